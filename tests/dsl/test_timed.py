"""Which programs read the clock: the ingress reads it for an arrival only then
(kern/datapath.h, xdpq_arrival_now), so a program that needs the time and is not
found to would see now = 0 on the real clock, where the stepped differential tests,
on a virtual clock that is always read, cannot tell. Every way a program can need the
time is here."""

from __future__ import annotations

from pathlib import Path

import pytest

from xdpq.codegen.c import generate, reads_the_clock
from xdpq.dsl import check, parse

REPO = Path(__file__).resolve().parents[2]

HEAD = ("scheduler x\nstate global { c: count = 0\n  t: time = 0 }\n"
        "queue q: pifo(range = 64Ki)\n")
TREE = ("scheduler x\nqueue root: pifo(range = 64Ki) of leaves\nqueue leaves[4]: fifo()\n"
        "on enqueue { enqueue leaves[ip.dscp % 4] }\n")


def program(source: str):
    return check(parse(source, "t.xdpq"), source)


@pytest.mark.parametrize(("source", "timed"), [
    (HEAD + "on enqueue { enqueue q rank pkt.len }\n", False),
    (HEAD + "on enqueue { enqueue q rank c }\non dequeue(p) { c = p.rank }\n", False),
    (HEAD + "on enqueue { enqueue q rank now / 1us }\n", True),
    (HEAD + "on enqueue {\n  if pkt.len > 1000B { t = max(t, now) }\n  enqueue q rank 1\n}\n",
     True),
    (HEAD + "on enqueue { enqueue q rank 1 at t }\n", True),
    (HEAD + "on enqueue { enqueue q rank 1 }\non dequeue(p) { t = p.enqueued }\n", True),
    (HEAD + "on enqueue { enqueue q rank 1 }\non dequeue(p) { t = now }\n", True),
    (TREE, False),
    (TREE + "on ready leaves(i) { enqueue root rank i }\n", False),
    (TREE + "on ready leaves(i) { enqueue root rank i at now + 1ms }\n", True),
    (TREE + "on ready leaves(i) { enqueue root rank now }\n", True),
], ids=["plain", "state only", "rank from now", "now in a branch", "eligibility time",
        "sojourn", "now at dequeue", "tree", "ready rank", "ready time", "ready now"])
def test_a_program_reads_the_clock_exactly_when_it_needs_the_time(source: str,
                                                                 timed: bool) -> None:
    prog = program(source)
    assert reads_the_clock(prog) is timed
    assert ("#define XDPQ_TIMED 1" in generate(prog)) is timed


@pytest.mark.parametrize(("name", "timed"), [
    ("fifo", False), ("prio", False), ("stfq", False), ("drr", False), ("srpt", False),
    ("pfabric", False), ("hpfq", False), ("hfq3", False),
    ("fq_codel", True), ("tbf", True), ("pacing", True), ("edf", True), ("lstf", True),
    ("delay", True), ("htb", True), ("wf2q", True),
])
def test_the_librarys_schedulers(name: str, timed: bool) -> None:
    source = (REPO / "schedulers" / f"{name}.xdpq").read_text()
    assert reads_the_clock(check(parse(source, f"{name}.xdpq"), source)) is timed
