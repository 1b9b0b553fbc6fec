#!/usr/bin/env python3
"""Malformed frames through a scheduler's ingress program, at scale (issue 8, point 1).

Runs the enumerated corpus of ``xdpq.testing.malformed`` and then ``--frames`` random
mutations (default 100k, seeded) through ``xdpq_ingress`` of a FIFO scheduler
on a virtual clock, each checked against the Python twin: verdict, and
exactly one counter moved by one packet and the frame's bytes. Every 256
enqueued frames half the queue is dequeued and the rest flushed, and
conservation and the slot pool are checked. Add ``--jumbo`` to include
multi-buffer frames (3521..9018 B).

Prints progress on stderr and JSON as the last line on stdout: frames, counts
per outcome and per parse status, mismatches (and the first few, with the
frame in hex), conservation errors, time.
Run: .venv/bin/python bench/malformed.py [--frames N] [--seed S] [--jumbo]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.library import compile_fifo, compile_library  # noqa: E402
from xdpq.testing.malformed import (  # noqa: E402
    IngressCheck,
    random_frame,
    sized,
    systematic,
    v4_frame,
    v6_frame,
)
from xdpq.testing.stepper import Stepper  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000, help="random frames (default 100k)")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--sched", default="fifo", choices=("fifo", "stfq", "prio"))
    ap.add_argument("--jumbo", action="store_true", help="also multi-buffer frames")
    args = ap.parse_args()

    sched = compile_fifo(4096) if args.sched == "fifo" else compile_library(args.sched)
    obj = sched.obj_path
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    with Stepper(obj) as s:
        check = IngressCheck(s)
        for label, frame in systematic():
            check.send(frame, label)
        enumerated = check.sent + check.refused
        for i in range(args.frames):
            check.send(random_frame(rng), f"random #{i}")
            if (i + 1) % 20_000 == 0:
                print(f"{i + 1} random frames, {len(check.mismatches)} mismatches",
                      file=sys.stderr, flush=True)  # fmt: skip
        if args.jumbo:
            for size in (3521, 4096, 9000, 9018):
                for b in (v4_frame("v4", 17), v6_frame("v6", 6, tags=((0x8100, 3),))):
                    check.send(sized(b, size), f"jumbo {size}")
        check.drain()
    elapsed = time.monotonic() - t0
    out = check.summary()
    out.update(
        scheduler=args.sched, seed=args.seed, enumerated=enumerated, random=args.frames,
        seconds=round(elapsed, 2), us_per_frame=round(elapsed / max(1, out["frames"]) * 1e6, 1),
        first_mismatches=[str(m) for m in check.mismatches[:5]],
    )  # fmt: skip
    for k, v in out.items():
        if k not in ("first_mismatches",):
            print(f"{k:>24}: {v}", file=sys.stderr)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
