"""``full = pushout``: accepted where it means something, refused with a positioned
error where it does not (GOLDEN, asserted in test_check_errors), and kept as written by
``xdpq fmt``."""

from __future__ import annotations

import pytest

from xdpq.dsl import check, parse
from xdpq.dsl.fmt import format

GOLDEN = [
    ("scheduler x\nqueue q: fifo(capacity = 8, full = pushout)\non enqueue { enqueue q }\n",
     "t.xdpq:2:29: error: full = pushout: a fifo keeps arrival order, so it has no worst "
     "packet to push out\nqueue q: fifo(capacity = 8, full = pushout)\n"
     "                            ^^^^^^^^^^^^^^\nhint: push-out needs ranks: a pifo or an "
     "rbtree"),
    ("scheduler x\nqueue q: pifo(range = 64, full = push)\non enqueue { enqueue q rank 1 }\n",
     "t.xdpq:2:34: error: a full queue either drops the arrival or pushes out its worst "
     "packet\nqueue q: pifo(range = 64, full = push)\n                                 ^^^^\n"
     "hint: full = drop (the default) or full = pushout"),
    ("scheduler x\nqueue f[2]: fifo()\nqueue q: pifo(range = 64, full = pushout) of f\n"
     "on enqueue { enqueue f[0] }\n",
     "t.xdpq:3:27: error: full = pushout: the entries of 'q' are the queues under it, not "
     "packets\nqueue q: pifo(range = 64, full = pushout) of f\n"
     "                          ^^^^^^^^^^^^^^\nhint: give push-out to the queues that hold "
     "the packets"),
    ("scheduler x\nqueue q: rbtree(full = pushout)\non enqueue {\n"
     "  enqueue q rank 1 at now + 1ms\n}\n",
     "t.xdpq:4:3: error: 'q' pushes out (full = pushout), and this packet would wait for its "
     "time beside it\n  enqueue q rank 1 at now + 1ms\n  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
     "hint: push-out picks among the packets in rank order: leave 'at' out, or the push-out"),
    ("scheduler x\nstate global { v: bytes = 0 }\n"
     "queue q: pifo(range = 64, full = pushout, clock = v)\non enqueue { enqueue q rank 1 }\n",
     "t.xdpq:3:43: error: 'q' pushes out (full = pushout) and has a clock, on which its "
     "packets wait beside it\nqueue q: pifo(range = 64, full = pushout, clock = v)\n"
     "                                          ^^^^^^^^^\nhint: push-out picks among the "
     "packets in rank order: leave one of them out"),
]


@pytest.mark.parametrize(("decl", "pushout"), [
    ("pifo(range = 64, capacity = 8, full = pushout)", True),
    ("rbtree(capacity = 8, full = pushout)", True),
    ("pifo(range = 64, full = drop)", False),
    ("rbtree()", False),
])
def test_pushout_reaches_the_ir(decl: str, pushout: bool) -> None:
    source = f"scheduler x\nqueue q: {decl}\n\non enqueue {{\n  enqueue q rank pkt.len\n}}\n"
    assert check(parse(source, "t.xdpq"), source).queue("q").pushout is pushout
    assert format(source) == source  # already in the layout: fmt keeps it as written


def test_pushout_leaves_under_a_parent_are_fine() -> None:
    source = ("scheduler x\nqueue f[4]: pifo(range = 64, capacity = 8, full = pushout)\n"
              "queue root: fifo() of f\non enqueue { enqueue f[l4.sport] rank pkt.len }\n")
    prog = check(parse(source, "t.xdpq"), source)
    assert prog.queue("f").pushout and not prog.queue("root").pushout
