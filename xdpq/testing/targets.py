"""What the benchmarks share: their sections chosen with ``--only``, and targets.

A benchmark's JSON carries ``targets``: ``{name: {"value", "target", "at", "met"}}``
(``at`` is "least" or "most"), or ``{name: {"value"}}`` for a figure reported
beside them with no target.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

Target = dict[str, object]


def add_only(ap: argparse.ArgumentParser, sections: Sequence[str]) -> None:
    """``--only a,b``: which of the benchmark's sections to run (all by default)."""
    ap.add_argument("--only", default=",".join(sections),
                    help=f"comma-separated sections to run, of {','.join(sections)}")


def chosen(ap: argparse.ArgumentParser, only: str, sections: Sequence[str]) -> set[str]:
    """The sections ``--only`` names; a usage error for a name not among them."""
    names = set(only.split(","))
    if unknown := names - set(sections):
        ap.error(f"no section {', '.join(sorted(unknown))}: choose of {', '.join(sections)}")
    return names


def at_least(value: float, target: float) -> Target:
    return {"value": value, "target": target, "at": "least", "met": value >= target}


def at_most(value: float, target: float) -> Target:
    return {"value": value, "target": target, "at": "most", "met": value <= target}


def report(targets: dict[str, Target]) -> None:
    """One line on stderr for each target: its value, the target, met or MISSED."""
    for name, t in targets.items():
        if "target" in t:
            print(f"{name}: {t['value']:.3f} (target at {t['at']} {t['target']}) "
                  f"{'met' if t['met'] else 'MISSED'}", file=sys.stderr, flush=True)
