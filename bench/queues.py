#!/usr/bin/env python3
"""Per-packet cost of the FIFO, PIFO and RBtree queue maps.

Each measured run of kern/bench/queue_bench.bpf.c stores a frame in a slot,
enqueues it, dequeues the head, copies it back out and frees its slot, with
the queue pre-filled to a given depth. Costs are the kernel's own
BPF_PROG_RUN timing (ns per run, median of several trials), set beside a
plain XDP_DROP program measured in the same run: compare ratios, not
nanoseconds, on a shared machine.

Prints a table on stderr and JSON as the last line on stdout.
Run: .venv/bin/python bench/queues.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.bpf import BpfObject, compile_bpf, xdp_ctx  # noqa: E402

QUEUES = ("fifo", "pifo", "rbtree")
DEPTHS = (100, 1_000, 10_000, 60_000)
FRAMES = (64, 1500)
POOL = 65536
TARGETS = {
    "fifo_64B_vs_drop": 5.0,  # FIFO at most 5x XDP_DROP
    "pifo_60k_vs_100": 1.3,  # PIFO cost does not grow with depth
    "rbtree_60k_vs_100": 2.0,  # RBtree grows only logarithmically
}


def measure(obj: BpfObject, prog: str, frame: bytes, repeat: int, trials: int) -> float:
    p = obj.prog(prog)
    ctx = xdp_ctx(len(frame))
    return statistics.median(
        p.run(frame, ctx=ctx, repeat=repeat, data_out=False).duration_ns for _ in range(trials)
    )


def one_point(queue: str, depth: int, size: int, repeat: int, trials: int) -> dict[str, float]:
    """A fresh object: fill the pool, pre-fill the queue to depth, time cycles."""
    frame = bytes(range(256)) * (size // 256) + bytes(size % 256)
    with BpfObject(compile_bpf(REPO / "kern/bench/queue_bench.bpf.c")) as obj:
        obj.load()
        obj.prog("pool_fill").run(frame, ctx=xdp_ctx(size), repeat=POOL, data_out=False)
        obj.prog(f"fill_{queue}").run(frame, ctx=xdp_ctx(size), repeat=depth, data_out=False)
        ns = measure(obj, f"cycle_{queue}", frame, repeat, trials)
        bss = obj.section(".bss")
        refused = bss["bench_refused"]
        in_use = bss["xdpq_slots_in_use"]
    return {"ns_per_packet": ns, "refused": refused, "queued_after": in_use}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs, for the demo")
    args = ap.parse_args()
    repeat, trials = (20_000, 3) if args.quick else (200_000, 5)

    baseline: dict[int, float] = {}
    with BpfObject(compile_bpf(REPO / "kern/bench/queue_bench.bpf.c")) as obj:
        obj.load()
        for size in FRAMES:
            frame = bytes(size)
            baseline[size] = measure(obj, "drop_baseline", frame, repeat, trials)

    results = []
    for queue in QUEUES:
        for size in FRAMES:
            for depth in DEPTHS:
                point = one_point(queue, depth, size, repeat, trials)
                point.update(queue=queue, frame_bytes=size, queued=depth)
                point["vs_drop"] = point["ns_per_packet"] / max(baseline[size], 1.0)
                results.append(point)
                print(
                    f"{queue:7} {size:5} B  depth {depth:6}  "
                    f"{point['ns_per_packet']:8.1f} ns  {point['vs_drop']:6.2f}x drop"
                    f"  refused {point['refused']}",
                    file=sys.stderr,
                )

    def ns(queue: str, size: int, depth: int) -> float:
        return next(
            r["ns_per_packet"]
            for r in results
            if r["queue"] == queue and r["frame_bytes"] == size and r["queued"] == depth
        )

    ratios = {
        "fifo_64B_vs_drop": ns("fifo", 64, 100) / max(baseline[64], 1.0),
        "pifo_60k_vs_100": ns("pifo", 64, 60_000) / ns("pifo", 64, 100),
        "rbtree_60k_vs_100": ns("rbtree", 64, 60_000) / ns("rbtree", 64, 100),
    }
    targets = {
        name: {"value": round(v, 3), "target": TARGETS[name], "met": v <= TARGETS[name]}
        for name, v in ratios.items()
    }
    for name, t in targets.items():
        print(f"{name}: {t['value']:.2f} (target <= {t['target']}) "
              f"{'met' if t['met'] else 'MISSED'}", file=sys.stderr)
    print(json.dumps({
        "benchmark": "queues",
        "repeat": repeat,
        "trials": trials,
        "xdp_drop_ns": {str(k): v for k, v in baseline.items()},
        "results": results,
        "targets": targets,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
