"""Command-line verbs, one module each; and the output options they share."""

from __future__ import annotations

import argparse
import sys

# As typing.TYPE_CHECKING, without importing typing on the way to a verb (see cli.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

# --fast, of sim and sweep.
FAST_HELP = ("run the simulation in C, compiled from the scheduler (once, with clang), to "
             "the same results; where it cannot, it says why and the reference runs")


def json_options(p: argparse.ArgumentParser, group: Any = None, *, top: bool = False) -> None:
    """``-j/--json`` and ``-p/--pretty``, as ``ip`` and ``bpftool`` have them: given before
    the verb (``xdpq -j list``, the top parser, ``top``) or after it (``xdpq list -j``).
    A verb's own options leave the top's alone unless given (``SUPPRESS``). ``group``:
    where ``-j`` goes when it excludes other options of the verb."""
    default = False if top else argparse.SUPPRESS
    (group or p).add_argument("-j", "--json", action="store_true", default=default,
                              help="print JSON on stdout, one document")
    p.add_argument("-p", "--pretty", action="store_true", default=default,
                   help="print JSON, indented (implies -j)")


def emit(args: argparse.Namespace, doc: Any) -> None:
    """A verb's JSON output: one line, or indented with -p."""
    import json

    print(json.dumps(doc, indent=2 if getattr(args, "pretty", False) else None, default=str))


def console() -> Console:
    """Where a verb prints its tables: on a terminal, at its width; piped, as wide as the
    rows are (rich would cut them at 80 columns)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 1 << 16)
