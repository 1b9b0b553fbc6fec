#!/usr/bin/env python3
"""Dequeue cost against the depth of a scheduling tree, one to four levels of PIFOs.

For each depth a generated program puts every packet into a leaf of a tree of
PIFOs, four children under each parent (1, 4, 16, 64 leaves), with a ready hook
ranking each queue in its parent; ranks, and so leaves, vary from packet to
packet. The program is the datapath's whole path: ``xdpq_ingress`` (classify,
enqueue into the leaf, the tokens up the tree) fills the tree with PACKETS
frames, then ``xdpq_step`` dequeues them all (a walk down the tokens, the ready
hooks placing each queue again on the way back up). Costs are the kernel's own
BPF_PROG_RUN timing, ns per run, the median of several trials; compare the
ratios, not the nanoseconds, on a shared machine.

Target: a four-level tree's dequeue costs at most 4x a single PIFO's.

Beside it, the cost of an rbtree array's queue (RBTREE_FAN rbtrees under a FIFO, all
in one kernel rbtree, each queue's head found by a search from its root) against a
single rbtree under the same FIFO, the same packets and ranks: reported as ratios
(``rbtree_array``), with no target.

Prints a table on stderr and JSON as the last line on stdout.
Run: .venv/bin/python bench/trees.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.bpf import xdp_ctx  # noqa: E402
from xdpq.codegen.build import compile_source  # noqa: E402
from xdpq.ir.link import Bql, BqlMode  # noqa: E402
from xdpq.testing.frames import FrameSpec, frame  # noqa: E402
from xdpq.testing.stepper import LOOPBACK, Stepper  # noqa: E402

DEPTHS = (1, 2, 3, 4)
FAN = 4
PACKETS = 2000
TARGET = 4.0  # four levels' dequeue at most 4x one level's
RBTREE_FAN = 64
_STEP_IO = struct.Struct("=QiIQIIQ")  # struct xdpq_step_io in kern/datapath.h


def program(depth: int) -> str:
    """A PIFO at every level, FAN children under each parent."""
    out = [f"scheduler tree{depth}"]
    for d in range(depth):
        dims = f"[{FAN}]" * d
        leaf = d == depth - 1
        args = "range = 64" + (f", capacity = {PACKETS}" if leaf else "")
        of = f" of l{d + 1}" if not leaf else ""
        out.append(f"queue l{d}{dims}: pifo({args}){of}")
    out.append("state global { n: count = 0 }")
    index = "".join(f"[n / {FAN ** k} % {FAN}]" for k in range(depth - 1))
    out.append(f"on enqueue {{\n  n = n + 1\n  enqueue l{depth - 1}{index} rank n % 50\n}}")
    for d in range(1, depth):
        params = ", ".join(f"i{k}" for k in range(d))
        out.append(f"on ready l{d}({params}) {{\n  enqueue l{d - 1} rank n * 7 % 50\n}}")
    return "\n".join(out) + "\n"


def rbtrees(fan: int) -> str:
    """FAN rbtrees (0: one rbtree) under a FIFO, ranks spread over 1000."""
    dims, index = (f"[{fan}]", f"[n % {fan}]") if fan else ("", "")
    return (f"scheduler rbtrees{fan}\nqueue root: fifo() of t\n"
            f"queue t{dims}: rbtree(capacity = {PACKETS})\n"
            "state global { n: count = 0 }\n"
            f"on enqueue {{\n  n = n + 1\n  enqueue t{index} rank n * 7919 % 1000\n}}\n")


def one_depth(depth: int, trials: int) -> dict[str, float]:
    return one_program(program(depth), f"depth {depth}", trials)


def one_program(source: str, what: str, trials: int) -> dict[str, float]:
    compiled = compile_source(source, "bench.xdpq")
    raw = frame(FrameSpec(1000, sport=1))
    io = _STEP_IO.pack(0, 0, 0, 0, 0, 0, 0)
    enq, deq = [], []
    with Stepper(compiled.obj_path) as s:
        s.set_bql(Bql(BqlMode.OFF))
        ingress, step = s.obj.prog("xdpq_ingress"), s.obj.prog("xdpq_step")
        for _ in range(trials):
            enq.append(ingress.run(raw, ctx=xdp_ctx(len(raw), LOOPBACK), repeat=PACKETS,
                                   data_out=False).duration_ns)
            deq.append(step.run(io, ctx=xdp_ctx(len(io)), repeat=PACKETS,
                                data_out=False).duration_ns)
            s.flush()
        counted = s.packets()
    # Every trial stored and took out every frame (else the times are of something else).
    if counted.get("enqueued") != trials * PACKETS or counted.get("dequeued") != trials * PACKETS:
        raise SystemExit(f"{what}: not every frame went through: {counted}")
    return {"enqueue_ns": statistics.median(enq), "dequeue_ns": statistics.median(deq)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer trials")
    args = ap.parse_args()
    trials = 3 if args.quick else 9
    results = []
    for depth in DEPTHS:
        point = one_depth(depth, trials)
        point["depth"] = depth
        results.append(point)
        print(f"depth {depth}  enqueue {point['enqueue_ns']:7.1f} ns  "
              f"dequeue {point['dequeue_ns']:7.1f} ns", file=sys.stderr)
    one, four = results[0]["dequeue_ns"], results[-1]["dequeue_ns"]
    ratio = four / max(one, 1.0)
    target = {"value": round(ratio, 3), "target": TARGET, "met": ratio <= TARGET}
    print(f"dequeue_4_levels_vs_1: {ratio:.2f} (target <= {TARGET}) "
          f"{'met' if target['met'] else 'MISSED'}", file=sys.stderr)
    single = one_program(rbtrees(0), "one rbtree", trials)
    array = one_program(rbtrees(RBTREE_FAN), "an rbtree array", trials)
    rb = {"fan": RBTREE_FAN, "single": single, "array": array,
          "enqueue_vs_single": round(array["enqueue_ns"] / max(single["enqueue_ns"], 1.0), 3),
          "dequeue_vs_single": round(array["dequeue_ns"] / max(single["dequeue_ns"], 1.0), 3)}
    for name, point in (("one rbtree", single), (f"rbtree[{RBTREE_FAN}]", array)):
        print(f"{name:<12}  enqueue {point['enqueue_ns']:7.1f} ns  "
              f"dequeue {point['dequeue_ns']:7.1f} ns", file=sys.stderr)
    print(f"rbtree array vs one rbtree: enqueue {rb['enqueue_vs_single']:.2f}x, "
          f"dequeue {rb['dequeue_vs_single']:.2f}x", file=sys.stderr)
    print(json.dumps({"benchmark": "trees", "packets": PACKETS, "fan": FAN, "trials": trials,
                      "results": results, "targets": {"dequeue_4_levels_vs_1": target},
                      "rbtree_array": rb}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
