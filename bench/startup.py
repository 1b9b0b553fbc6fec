#!/usr/bin/env python3
"""How fast the command line starts (issue 14, item 5): each verb against ``python -c pass``.

Times whole processes of the installed console script (``xdpq`` beside the Python that
runs this, as ``./run`` installs it: ``.venv/bin/xdpq``): ``--version``, ``check`` and
``fmt --check`` of the library's stfq, and ``sim --help``. Each command runs in turn
with ``python -c pass`` of the same interpreter (A B A B ...), after warm-up runs that
also write the byte code, as a user's first run does; the ratio is taken pair by pair,
so that it holds while the machine's speed drifts; both of wall time and of CPU time
(user and system, from the kernel's accounting of each child), which a busy machine
inflates less. The target is a ratio of 2 or less for ``--version`` and ``check``.

The editable install ``./run`` makes imports a finder from a ``.pth`` file at every
start, and so does ``python -c pass`` of that environment: ``editable_ms`` is how much
longer that takes than ``python -c pass`` of a fresh environment of the same
interpreter (made here, in a temporary directory), and ``ratio_fresh`` each verb's
ratio against the fresh one.

Prints a line per verb on stderr and JSON as the last line on stdout: runs, the
baselines' medians (wall and CPU, ms), and per verb its medians, its ratios (each the
median of the pairs) and the same against the fresh environment.
Run: .venv/bin/python bench/startup.py [--runs N] [--xdpq PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.testing.targets import at_most, report  # noqa: E402

STFQ = str(REPO / "schedulers" / "stfq.xdpq")
VERBS = {
    "--version": ["--version"],
    "check": ["check", STFQ],
    "fmt": ["fmt", "--check", STFQ],
    "sim --help": ["sim", "--help"],
}
TARGET = 2.0  # for --version and check
WALL, CPU = 0, 1
# Byte code is written, as it is for any user (a wheel's install compiles it).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


Run = tuple[float, float]  # wall and CPU (user + system) time, ms


def once(cmd: list[str]) -> Run:
    """One run; a command that fails ends the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=ENV, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall * 1e3, cpu * 1e3


def pairs(a: list[str], b: list[str], runs: int, warmup: int) -> list[tuple[Run, Run]]:
    for _ in range(warmup):
        once(a), once(b)
    return [(once(a), once(b)) for _ in range(runs)]


def median(got: list[tuple[Run, Run]], side: int, what: int) -> float:
    return round(statistics.median(p[side][what] for p in got), 1)


def ratio(got: list[tuple[Run, Run]], what: int) -> float:
    """The median of the pairs' ratios."""
    return round(statistics.median(a[what] / b[what] for a, b in got), 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="counted pairs per verb (default 20)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--xdpq", type=Path, default=Path(sys.executable).with_name("xdpq"),
                    help="the console script (default: beside this Python)")
    args = ap.parse_args()

    bare = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp], check=True)
        fresh = [str(Path(tmp, "bin", "python")), "-c", "pass"]
        base = pairs(bare, fresh, args.runs, args.warmup)
        verbs = {}
        for name, verb_args in VERBS.items():
            cmd = [str(args.xdpq), *verb_args]
            got, against_fresh = (pairs(cmd, b, args.runs, args.warmup) for b in (bare, fresh))
            verbs[name] = {
                "ms": median(got, 0, WALL), "cpu_ms": median(got, 0, CPU),
                "ratio": ratio(got, WALL), "cpu_ratio": ratio(got, CPU),
                "ratio_fresh": ratio(against_fresh, WALL),
                "cpu_ratio_fresh": ratio(against_fresh, CPU),
            }
            v = verbs[name]
            print(f"{name:12} {v['ms']:7.1f} ms {v['ratio']:5.2f}x  cpu {v['cpu_ms']:6.1f} ms "
                  f"{v['cpu_ratio']:5.2f}x  (fresh environment: {v['ratio_fresh']:.2f}x, "
                  f"cpu {v['cpu_ratio_fresh']:.2f}x)", file=sys.stderr)
    out = {
        "runs": args.runs,
        "xdpq": str(args.xdpq),
        "python_ms": median(base, 0, WALL), "python_cpu_ms": median(base, 0, CPU),
        "fresh_python_ms": median(base, 1, WALL), "fresh_python_cpu_ms": median(base, 1, CPU),
        "editable_ms": round(median(base, 0, WALL) - median(base, 1, WALL), 1),
        "editable_cpu_ms": round(median(base, 0, CPU) - median(base, 1, CPU), 1),
        "verbs": verbs,
        # Against python -c pass of the same (editable) environment, as every verb
        # runs; ratio_fresh beside it charges the editable install to xdpq.
        "targets": {f"{v}_vs_python": at_most(verbs[v]["ratio"], TARGET)
                    for v in ("--version", "check")},
    }
    report(out["targets"])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
