#!/usr/bin/env python3
"""Dequeue cost against the depth of a scheduling tree, one to four levels of PIFOs.

For each depth a generated program puts every packet into a leaf of a tree of
PIFOs, four children under each parent (1, 4, 16, 64 leaves), with a ready hook
ranking each queue in its parent; ranks, and so leaves, vary from packet to
packet. The program is the datapath's whole path: ``xdpq_ingress`` (classify,
enqueue into the leaf, the tokens up the tree) fills the tree with PACKETS
frames, then ``xdpq_step`` dequeues them all (a walk down the tokens, the ready
hooks placing each queue again on the way back up). Costs are the kernel's own
BPF_PROG_RUN timing, ns per run, the median of several trials. The programs
are loaded together and their trials taken in turn, and a ratio is the median
of the ratios of trials taken in the same turn: compare those, not the
nanoseconds, on a shared machine.

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
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.bpf import xdp_ctx  # noqa: E402
from xdpq.codegen.build import compile_source  # noqa: E402
from xdpq.ir.link import Bql, BqlMode  # noqa: E402
from xdpq.testing.frames import FrameSpec, frame  # noqa: E402
from xdpq.testing.stepper import LOOPBACK, Stepper  # noqa: E402
from xdpq.testing.targets import at_most, report  # noqa: E402

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


class Timed:
    """One program on a stepper: runs of its ingress (filling the tree) and of its
    step (emptying it), each PACKETS frames, timed by BPF_PROG_RUN."""

    def __init__(self, source: str, what: str, stack: ExitStack) -> None:
        self.what = what
        self.s = stack.enter_context(Stepper(compile_source(source, "bench.xdpq").obj_path))
        self.s.set_bql(Bql(BqlMode.OFF))
        self.ingress, self.step = self.s.obj.prog("xdpq_ingress"), self.s.obj.prog("xdpq_step")
        self.enq: list[float] = []
        self.deq: list[float] = []
        self.point: dict[str, float] = {}  # medians, once the trials are done

    def trial(self) -> None:
        raw = frame(FrameSpec(1000, sport=1))
        io = _STEP_IO.pack(0, 0, 0, 0, 0, 0, 0)
        self.enq.append(self.ingress.run(raw, ctx=xdp_ctx(len(raw), LOOPBACK), repeat=PACKETS,
                                         data_out=False).duration_ns)
        self.deq.append(self.step.run(io, ctx=xdp_ctx(len(io)), repeat=PACKETS,
                                      data_out=False).duration_ns)
        self.s.flush()

    def finish(self) -> None:
        # Every trial stored and took out every frame (else the times are of something else).
        counted, n = self.s.packets(), len(self.deq) * PACKETS
        if counted.get("enqueued") != n or counted.get("dequeued") != n:
            raise SystemExit(f"{self.what}: not every frame went through: {counted}")
        self.point = {"enqueue_ns": statistics.median(self.enq),
                      "dequeue_ns": statistics.median(self.deq)}


def interleaved(programs: dict[str, str], trials: int) -> dict[str, Timed]:
    """Every program loaded at once and their trials taken in turn (A B C A B C ...),
    so that a noisy spell of the machine hits each of them alike."""
    with ExitStack() as stack:
        timed = {what: Timed(src, what, stack) for what, src in programs.items()}
        for _ in range(trials):
            for t in timed.values():
                t.trial()
        for t in timed.values():
            t.finish()  # while its stepper is open
        return timed


def paired_ratio(a: Timed, b: Timed) -> float:
    """The median over trials of a's dequeue cost against b's in the same turn."""
    return statistics.median(x / max(y, 1.0) for x, y in zip(a.deq, b.deq, strict=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer trials")
    args = ap.parse_args()
    trials = 5 if args.quick else 15
    depths = interleaved({f"depth {d}": program(d) for d in DEPTHS}, trials)
    results = []
    for depth in DEPTHS:
        point = {**depths[f"depth {depth}"].point, "depth": depth}
        results.append(point)
        print(f"depth {depth}  enqueue {point['enqueue_ns']:7.1f} ns  "
              f"dequeue {point['dequeue_ns']:7.1f} ns", file=sys.stderr)
    ratio = paired_ratio(depths[f"depth {DEPTHS[-1]}"], depths[f"depth {DEPTHS[0]}"])
    targets = {"dequeue_4_levels_vs_1": at_most(round(ratio, 3), TARGET)}
    report(targets)
    rbt = interleaved({"one rbtree": rbtrees(0), "an rbtree array": rbtrees(RBTREE_FAN)}, trials)
    single, array = rbt["one rbtree"].point, rbt["an rbtree array"].point
    rb = {"fan": RBTREE_FAN, "single": single, "array": array,
          "enqueue_vs_single": round(array["enqueue_ns"] / max(single["enqueue_ns"], 1.0), 3),
          "dequeue_vs_single": round(paired_ratio(rbt["an rbtree array"], rbt["one rbtree"]),
                                     3)}
    for name, point in (("one rbtree", single), (f"rbtree[{RBTREE_FAN}]", array)):
        print(f"{name:<12}  enqueue {point['enqueue_ns']:7.1f} ns  "
              f"dequeue {point['dequeue_ns']:7.1f} ns", file=sys.stderr)
    print(f"rbtree array vs one rbtree: enqueue {rb['enqueue_vs_single']:.2f}x, "
          f"dequeue {rb['dequeue_vs_single']:.2f}x", file=sys.stderr)
    print(json.dumps({"benchmark": "trees", "packets": PACKETS, "fan": FAN, "trials": trials,
                      "results": results, "targets": targets,
                      "rbtree_array": rb}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
