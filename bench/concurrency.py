#!/usr/bin/env python3
"""Concurrent enqueue and dequeue on one scheduler, at scale (issue 8, point 2).

One pinned enqueuer thread per CPU runs ``xdpq_ingress`` (BPF_PROG_RUN,
one frame per run, thousands of distinct flows) into one scheduler on a
virtual clock, while a dequeuer steps and transmits (not live) and a sampler
reads the per-CPU counters; then everything is accounted for exactly and the
queue flushed (``xdpq/testing/stress.py``). Runs inside the DUT namespace of a veth
test bed, which it removes again.

Prints a summary on stderr and JSON as the last line on stdout: frames,
seconds, Mpps, counters, still queued / staged, slot peak, counter samples,
regressions, conservation.
Run: .venv/bin/python bench/concurrency.py [--frames 5000000] [--sched fifo|stfq]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.library import compile_fifo, compile_library  # noqa: E402
from xdpq.net.testbed import DUT, TestBed  # noqa: E402
from xdpq.testing.stepper import Stepper  # noqa: E402
from xdpq.testing.stress import run_concurrent  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=5_000_000)
    ap.add_argument("--sched", default="fifo", choices=("fifo", "stfq", "prio"))
    ap.add_argument("--threads", type=int, default=0, help="enqueuers (default: one per CPU)")
    ap.add_argument("--transmit-ratio", type=float, default=1.0,
                    help="transmit runs per dequeue (below 1 the staged slots pile up)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    sched = compile_fifo(1024) if args.sched == "fifo" else compile_library(args.sched)
    obj = sched.obj_path
    with (
        TestBed() as bed,
        bed.enter(DUT),
        Stepper(obj, egress_ifindex=bed.ifindex("out0")) as s,
    ):
        r = run_concurrent(s, args.frames, threads=args.threads or None, seed=args.seed,
                           transmit_ratio=args.transmit_ratio)  # fmt: skip
    out = {"scheduler": args.sched, **r.summary()}
    for k, v in out.items():
        print(f"{k:>20}: {v}", file=sys.stderr)
    print(json.dumps(out))
    return 0 if r.summary()["conservation"] else 1


if __name__ == "__main__":
    sys.exit(main())
