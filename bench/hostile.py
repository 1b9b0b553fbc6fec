#!/usr/bin/env python3
"""Hostile programs at scale (issue 8, point 2).

Generates ``--count`` programs (default 10k, seeded) with
``tests/dsl/hostile_programs.py``: each must get a positioned SourceError
from check or pass, and then its simulator class runs packets. Of those that
pass, ``--load`` (default all) are compiled by clang (two processes) and
loaded by the verifier.

Prints progress on stderr and JSON as the last line on stdout: counts by
outcome, the commonest error messages, failures (with the program text and
file name), time per stage.
Run: .venv/bin/python bench/hostile.py [--count N] [--seed S] [--load N]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "dsl"))

from hostile_programs import build, load, outcome, program  # noqa: E402

from xdpq.errors import XdpqError  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--load", type=int, default=None, help="how many passing ones to load")
    args = ap.parse_args()

    kinds: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    failures: list[dict[str, object]] = []
    passed: list[tuple[int, str, str]] = []
    t0 = time.monotonic()
    for seed in range(args.seed, args.seed + args.count):
        source, filename = program(seed)
        got = outcome(source, filename)
        kinds[got.kind] += 1
        if got.kind == "error":
            messages[re.sub(r"'[^']*'|\d+", "_", got.detail)[:80]] += 1
        elif got.kind == "failure":
            failures.append(
                {
                    "seed": seed,
                    "stage": "check",
                    "file": filename,
                    "program": source,
                    "detail": got.detail,
                }
            )
        else:
            passed.append((seed, source, filename))
        if (seed - args.seed) % 1000 == 999:
            print(f"checked {seed - args.seed + 1}: {dict(kinds)}", file=sys.stderr)
    t_check = time.monotonic() - t0

    to_load = passed[: args.load] if args.load is not None else passed

    def compiled(item: tuple[int, str, str]) -> tuple[str | None, str]:
        _, source, filename = item
        try:
            return build(source, filename), ""
        except XdpqError as err:
            return None, str(err)

    t1 = time.monotonic()
    loaded = 0
    with ThreadPoolExecutor(2) as pool:
        for i, ((seed, source, filename), (path, err)) in enumerate(
            zip(to_load, pool.map(compiled, to_load), strict=True)
        ):
            if i % 100 == 99:
                print(f"built {i + 1} of {len(to_load)}", file=sys.stderr)
            stage = "compile"
            if path is not None:
                stage = "load"
                try:
                    load(path)
                    loaded += 1
                    continue
                except XdpqError as exc:
                    err = str(exc)
            kinds[f"{stage}_failed"] += 1
            failures.append(
                {"seed": seed, "stage": stage, "file": filename, "program": source, "detail": err}
            )
    t_load = time.monotonic() - t1

    print(
        json.dumps(
            {
                "programs": args.count,
                "seed": args.seed,
                "outcomes": dict(kinds),
                "loaded": loaded,
                "load_attempted": len(to_load),
                "failures": len(failures),
                "failure_samples": failures[:20],
                "failure_stages": dict(Counter(str(f["stage"]) for f in failures)),
                "top_errors": dict(messages.most_common(25)),
                "check_s": round(t_check, 1),
                "compile_load_s": round(t_load, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
