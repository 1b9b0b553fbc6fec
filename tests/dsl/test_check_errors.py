"""Semantic errors: names, kinds and units, hooks, queues, ranges — exact messages."""

from __future__ import annotations

import pytest
from test_pushout_checks import GOLDEN as PUSHOUT_GOLDEN
from test_tree_checks import GOLDEN as TREE_GOLDEN

from xdpq.dsl import check, parse
from xdpq.errors import SourceError

HEAD = "scheduler x\nqueue q: fifo(capacity = 100)\n"


def program(body: str, decls: str = "") -> str:
    return f"{HEAD}{decls}on enqueue {{\n{body}\n}}\n"


GOLDEN = [
    (program("  enqueue q rank vtim", "state global { vtime: time = 0 }\n"),
     "t.xdpq:5:18: error: unknown name 'vtim'\n  enqueue q rank vtim\n                 ^^^^\n"
     "hint: did you mean 'vtime'?"),
    (program("  enqueue q rank pkt.size"),
     "t.xdpq:4:18: error: unknown name 'pkt.size'\n  enqueue q rank pkt.size\n"
     "                 ^^^^^^^^\nhint: did you mean 'pkt.len'?"),
    (program("  let x = now + 10Mbit\n  enqueue q"),
     "t.xdpq:4:11: error: adding a time and a rate\n  let x = now + 10Mbit\n"
     "          ^^^^^^^^^^^^"),
    (program("  let x = now + link_rate\n  enqueue q"),
     "t.xdpq:4:11: error: adding a time and a rate\n  let x = now + link_rate\n"
     "          ^^^^^^^^^^^^^^^"),
    (program("  link_rate = 10Mbit\n  enqueue q"),
     "t.xdpq:4:3: error: cannot assign to 'link_rate'\n  link_rate = 10Mbit\n  ^^^^^^^^^\n"
     "hint: only state (global, flow., per-queue) can change"),
    (program("  let x = now + pkt.len\n  enqueue q"),
     "t.xdpq:4:11: error: adding a time and bytes\n  let x = now + pkt.len\n"
     "          ^^^^^^^^^^^^^\nhint: a virtual time counted in bytes (as in fair queueing) "
     "should be declared bytes"),
    (program("  if pkt.len { pass }\n  enqueue q"),
     "t.xdpq:4:6: error: the condition is bytes, not true/false\n  if pkt.len { pass }\n"
     "     ^^^^^^^\nhint: compare it: e.g. x > 0"),
    (program("  if pkt.len > 5ms { pass }\n  enqueue q"),
     "t.xdpq:4:6: error: comparing bytes with a time\n  if pkt.len > 5ms { pass }\n"
     "     ^^^^^^^^^^^^^"),
    (program("  let r = pkt.len / 10Mbit\n  enqueue q rank r at 10Mbit"),
     "t.xdpq:5:23: error: 'at' takes a time (when the packet may leave), not a rate\n"
     "  enqueue q rank r at 10Mbit\n                      ^^^^^^"),
    (program("  enqueue q rank 10Mbit"),
     "t.xdpq:4:18: error: a rank is a time, bytes or a count, not a rate\n"
     "  enqueue q rank 10Mbit\n                 ^^^^^^"),
    (program("  enqueue p"),
     "t.xdpq:4:3: error: unknown name 'p'\n  enqueue p\n  ^^^^^^^^^"),
    (program("  enqueue q[3]"),
     "t.xdpq:4:13: error: 'q' is a single queue, not an array\n  enqueue q[3]\n"
     "            ^"),
    (program("  enqueue fq", "queue fq[16]: fifo()\n"),
     "t.xdpq:5:3: error: 'fq' is an array of queues: say which one\n  enqueue fq\n"
     "  ^^^^^^^^^^\nhint: enqueue fq[i]"),
    (program("  if ip.dscp == 46 { enqueue q }"),
     "t.xdpq:3:1: error: a path of 'on enqueue' ends without enqueue, drop or pass\n"
     "on enqueue {\n^\nhint: every packet needs an outcome"),
    (program("  drop late\n  enqueue q"),
     "t.xdpq:5:3: error: this statement can never run: the path already ended\n"
     "  enqueue q\n  ^^^^^^^^^"),
    (program("  weight = 2\n  enqueue q", "param weight = 1 in 1..10\n"),
     "t.xdpq:5:3: error: 'weight' is a parameter: it is set at deploy time, not here\n"
     "  weight = 2\n  ^^^^^^\nhint: keep changing values in state"),
    (program("  enqueue q", "param weight = 20 in 1..10\n"),
     "t.xdpq:3:16: error: the default 20 is outside 1..10\n"
     "param weight = 20 in 1..10\n               ^^"),
    (program("  enqueue q", "param weight = 5 in 10..1\n"),
     "t.xdpq:3:21: error: the range 10..1 is empty\nparam weight = 5 in 10..1\n"
     "                    ^^"),
    (program("  enqueue q", "param burst: bytes = 10ms\n"),
     "t.xdpq:3:22: error: 'burst' is declared bytes, its default is a time\n"
     "param burst: bytes = 10ms\n                     ^^^^"),
    (program("  enqueue q", "param rate = 10Mbit in 1ms..1s\n"),
     "t.xdpq:3:24: error: the range of 'rate' must be a rate like its default\n"
     "param rate = 10Mbit in 1ms..1s\n                       ^^^"),
    (program("  enqueue q", "queue p: pifo(capacity = 10)\n"),
     "t.xdpq:3:1: error: a pifo needs a range (ranks per window)\n"
     "queue p: pifo(capacity = 10)\n^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
     "hint: e.g. pifo(range = 4096, capacity = 1000)"),
    (program("  enqueue q", "queue p: pifo(range = 1000)\n"),
     "t.xdpq:3:1: error: range 1000: a power of two from 64 to 65536\n"
     "queue p: pifo(range = 1000)\n^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
     "hint: ranks beyond two windows are dropped; scale ranks down (e.g. rank = t / 16) to fit"),
    (program("  enqueue q", "queue p: fifo(size = 10)\n"),
     "t.xdpq:3:15: error: fifo queues have no 'size'\nqueue p: fifo(size = 10)\n"
     "              ^^^^^^^^^\nhint: fifo takes: capacity, clock, full"),
    (program("  enqueue q", "queue p: fifo(capacity = 100000)\n"),
     "t.xdpq:3:1: error: capacity 100000: a queue holds 1 to 65536 packets\n"
     "queue p: fifo(capacity = 100000)\n^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"),
    (program("  enqueue q", "queue q: rbtree()\n"),
     "t.xdpq:3:1: error: 'q' is declared twice\nqueue q: rbtree()\n^^^^^^^^^^^^^^^^^\n"
     "hint: first declared at t.xdpq:2:1"),
    (program("  flow.n = flow.n + 1\n  enqueue q"),
     "t.xdpq:4:12: error: 'flow.n' but no per-flow state is declared\n"
     "  flow.n = flow.n + 1\n           ^^^^^^"),
    (program("  enqueue q rank ip.src"),
     "t.xdpq:4:18: error: 'ip.src' is an address: it can key per-flow state, not be computed "
     "with\n  enqueue q rank ip.src\n                 ^^^^^^"),
    (program("  enqueue q rank -pkt.len / 1B"),
     "t.xdpq:4:18: error: a rank is never below 0, and this is a signed count\n"
     "  enqueue q rank -pkt.len / 1B\n                 ^^^^^^^^^^^^^\n"
     "hint: max(x, 0) is never below 0"),
    (program("  let n = avg(pkt.len, 1B)\n  enqueue q"),
     "t.xdpq:4:11: error: unknown function 'avg'\n  let n = avg(pkt.len, 1B)\n"
     "          ^^^^^^^^^^^^^^^^\nhint: functions: min, max, sqrt, hash"),
    (program("  let n = max(pkt.len, now)\n  enqueue q"),
     "t.xdpq:4:11: error: max() of bytes and a time\n  let n = max(pkt.len, now)\n"
     "          ^^^^^^^^^^^^^^^^^\nhint: all its values must be of one kind"),
    (program("  let n = 1\n  let n = 2\n  enqueue q"),
     "t.xdpq:5:3: error: 'n' is already defined\n  let n = 2\n  ^^^^^^^^^\n"
     "hint: give the new value another name"),
    (program("  let t = 0.5ns\n  enqueue q"),
     "t.xdpq:4:11: error: '0.5ns' is not a whole number of nanoseconds\n  let t = 0.5ns\n"
     "          ^^^^^"),
    (HEAD, "t.xdpq:1:1: error: the program has no 'on enqueue' hook\nscheduler x\n"
           "^\nhint: add: on enqueue { enqueue <queue> rank <expression> }"),
    (program("  enqueue q") + "on dequeue(p) { vtime = p.size }\n",
     "t.xdpq:6:25: error: a dequeued packet has no 'size'\n"
     "on dequeue(p) { vtime = p.size }\n                        ^^^^^^\n"
     "hint: it has rank, len, enqueued, ecn"),
    (program("  enqueue q") + "on dequeue(p) { enqueue q }\n",
     "t.xdpq:6:17: error: 'enqueue' in 'on dequeue'\non dequeue(p) { enqueue q }\n"
     "                ^^^^^^^^^\nhint: packets are enqueued in 'on enqueue'"),
    (program("  mark ce x else drop y"),
     "t.xdpq:4:3: error: 'mark' in 'on enqueue': packets are marked as they leave\n"
     "  mark ce x else drop y\n  ^^^^^^^^^^^^^^^^^^^^^\nhint: mark in 'on dequeue'"),
]


@pytest.mark.parametrize(("source", "message"), GOLDEN + TREE_GOLDEN + PUSHOUT_GOLDEN)
def test_golden_check_error(source: str, message: str) -> None:
    with pytest.raises(SourceError) as err:
        check(parse(source, "t.xdpq"), source)
    assert str(err.value) == message


def test_a_correct_program_passes() -> None:
    source = (
        "scheduler stfq\n"
        "param weight = 1 in 1..1000\n"
        "queue q: pifo(range = 64Ki, capacity = 10000)\n"
        "state global { vtime: bytes = 0 }\n"
        "state per flow(ip.src, ip.dst, l4.sport, l4.dport, ip.proto) { finish: bytes = 0 }\n"
        "on enqueue {\n"
        "  let start = max(vtime, flow.finish)\n"
        "  flow.finish = start + pkt.len / weight\n"
        "  enqueue q rank start / 16B\n"
        "}\n"
        "on dequeue(p) { vtime = p.len }\n"
    )
    check(parse(source, "stfq.xdpq"), source)
