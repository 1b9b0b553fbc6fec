#!/usr/bin/env python3
"""Per-packet cost of the FIFO, PIFO and RBtree queue maps.

Each measured run of kern/bench/queue_bench.bpf.c stores a frame in a slot,
enqueues it, dequeues the head, copies it back out and frees its slot, with
the queue pre-filled to a given depth (``ns_per_packet``); and, on the same
queue, does the same without the frame's bytes (``queue_ns``: take a slot,
enqueue, dequeue, free it). Costs are the kernel's own BPF_PROG_RUN timing
(ns per run, median of several trials), set beside a plain XDP_DROP program;
the trials of every depth of a queue type and frame size, and XDP_DROP's,
alternate: compare ratios, not nanoseconds, on a shared machine.

The depth targets hold the queue maps' own cost (``queue_ns``): whether a
structure grows with the packets it holds. The whole cycle's growth with
depth is reported beside them (``*_with_frame``); it is mostly memory every
queue type pays: the frame a dequeue copies out of a deep queue was written
that many packets earlier and is out of the CPU's caches (docs/findings.md
§2).

Prints a table on stderr and JSON as the last line on stdout.
Run: .venv/bin/python bench/queues.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.bpf import BpfObject, compile_bpf, xdp_ctx  # noqa: E402

QUEUES = ("fifo", "pifo", "rbtree")
DEPTHS = (100, 1_000, 10_000, 60_000)
FRAMES = (64, 1500)
POOL = 65536
TARGETS = {
    "fifo_64B_vs_drop": 5.0,  # FIFO at most 5x XDP_DROP, the whole cycle
    "pifo_60k_vs_100": 1.3,  # the PIFO's cost does not grow with depth
    "rbtree_60k_vs_100": 2.0,  # the RBtree's grows only logarithmically
}


def filled(stack: ExitStack, queue: str, depth: int, frame: bytes) -> BpfObject:
    """A fresh object: its pool filled, its queue pre-filled to depth."""
    obj = stack.enter_context(BpfObject(compile_bpf(REPO / "kern/bench/queue_bench.bpf.c")))
    obj.load()
    ctx = xdp_ctx(len(frame))
    obj.prog("pool_fill").run(frame, ctx=ctx, repeat=POOL, data_out=False)
    obj.prog(f"fill_{queue}").run(frame, ctx=ctx, repeat=depth, data_out=False)
    return obj


def series(queue: str, size: int, repeat: int, trials: int) -> list[dict[str, float]]:
    """Every depth of one queue type and frame size, and XDP_DROP, their trials
    interleaved, so that a noisy spell on a shared machine hits every point of the
    ratios alike. Medians of the trials."""
    frame = bytes(range(256)) * (size // 256) + bytes(size % 256)
    ctx = xdp_ctx(size)
    with ExitStack() as stack:
        objs = {depth: filled(stack, queue, depth, frame) for depth in DEPTHS}
        runs = {(depth, prog): [] for depth in DEPTHS for prog in ("cycle", "ops")}
        drops: list[float] = []
        for _ in range(trials):
            for depth, obj in objs.items():
                for prog in ("cycle", "ops"):
                    runs[depth, prog].append(obj.prog(f"{prog}_{queue}").run(
                        frame, ctx=ctx, repeat=repeat, data_out=False).duration_ns)
            drops.append(objs[DEPTHS[0]].prog("drop_baseline").run(
                frame, ctx=ctx, repeat=repeat, data_out=False).duration_ns)
        drop = statistics.median(drops)
        points = []
        for depth, obj in objs.items():
            bss = obj.section(".bss")
            ns = statistics.median(runs[depth, "cycle"])
            points.append({"queue": queue, "frame_bytes": size, "queued": depth,
                           "ns_per_packet": ns,
                           "queue_ns": statistics.median(runs[depth, "ops"]),
                           "drop_ns": drop, "vs_drop": ns / max(drop, 1.0),
                           "refused": bss["bench_refused"],
                           "queued_after": bss["xdpq_slots_in_use"]})
    return points


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs, for the demo")
    args = ap.parse_args()
    repeat, trials = (20_000, 3) if args.quick else (200_000, 5)

    results = []
    for queue in QUEUES:
        for size in FRAMES:
            for point in series(queue, size, repeat, trials):
                results.append(point)
                print(
                    f"{queue:7} {size:5} B  depth {point['queued']:6}  "
                    f"{point['ns_per_packet']:8.1f} ns  {point['vs_drop']:6.2f}x drop"
                    f"  queue alone {point['queue_ns']:7.1f} ns  refused {point['refused']}",
                    file=sys.stderr,
                )

    def ns(queue: str, size: int, depth: int, key: str = "ns_per_packet") -> float:
        return next(
            r[key]
            for r in results
            if r["queue"] == queue and r["frame_bytes"] == size and r["queued"] == depth
        )

    def growth(queue: str, key: str) -> float:
        return ns(queue, 64, 60_000, key) / ns(queue, 64, 100, key)

    ratios = {
        "fifo_64B_vs_drop": ns("fifo", 64, 100, "vs_drop"),
        "pifo_60k_vs_100": growth("pifo", "queue_ns"),
        "rbtree_60k_vs_100": growth("rbtree", "queue_ns"),
    }
    targets = {
        name: {"value": round(v, 3), "target": TARGETS[name], "met": v <= TARGETS[name]}
        for name, v in ratios.items()
    }
    # Not targets: the same growth with the frame's copy in and out, for all three.
    with_frame = {f"{q}_60k_vs_100_with_frame": round(growth(q, "ns_per_packet"), 3)
                  for q in QUEUES}
    with_frame["fifo_60k_vs_100"] = round(growth("fifo", "queue_ns"), 3)
    for name, t in targets.items():
        print(f"{name}: {t['value']:.2f} (target <= {t['target']}) "
              f"{'met' if t['met'] else 'MISSED'}", file=sys.stderr)
    for name, v in with_frame.items():
        print(f"{name}: {v:.2f}", file=sys.stderr)
    print(json.dumps({
        "benchmark": "queues",
        "repeat": repeat,
        "trials": trials,
        "xdp_drop_ns": {str(size): statistics.median(r["drop_ns"] for r in results
                                                     if r["frame_bytes"] == size)
                        for size in FRAMES},
        "results": results,
        "growth": with_frame,
        "targets": targets,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
