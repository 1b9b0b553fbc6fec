"""Trees, eligibility, signed values and windows: what check refuses, what it warns
of, and the exact words (positioned at what is wrong)."""

from __future__ import annotations

from xdpq.dsl import check, parse

HEAD = "scheduler x\n"

# The exact errors (tests/dsl/test_check_errors.py holds the program to each).
GOLDEN = [
    # two parents
    ("scheduler x\nqueue a[4]: fifo()\nqueue p: fifo() of a\nqueue r: pifo(range = 64) of a\n"
     "on enqueue { enqueue a[1] }\n",
     "t.xdpq:4:1: error: 'a' already has the parent 'p'\nqueue r: pifo(range = 64) of a\n"
     "^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\nhint: a queue has one parent ('p', at t.xdpq:3:1)"),
    # drop tail
    ("scheduler x\nqueue q: fifo()\non enqueue {\n  if ip.dscp == 1 {\n    drop q tail\n  }\n"
     "  enqueue q\n}\n",
     "t.xdpq:5:12: error: 'drop' takes one reason, not 'q tail'\n    drop q tail\n"
     "           ^^^^\nhint: drop q, or name the reason q_tail"),
    # too deep
    ("scheduler x\nqueue l0: fifo() of l1\nqueue l1: fifo() of l2\nqueue l2: fifo() of l3\n"
     "queue l3: fifo() of l4\nqueue l4: fifo() of l5\nqueue l5: fifo() of l6\n"
     "queue l6: fifo() of l7\nqueue l7: fifo() of l8\nqueue l8: fifo()\n"
     "on enqueue { enqueue l8 }\n",
     "t.xdpq:10:1: error: 'l8' is level 9 of its tree: a tree has at most 8 levels\n"
     "queue l8: fifo()\n^^^^^^^^^^^^^^^^"),
    # shape
    ("scheduler x\nqueue f[4][4]: fifo()\nqueue t[2]: fifo() of f\nqueue r: fifo() of t\n"
     "on enqueue { enqueue f[1][1] }\n",
     "t.xdpq:2:1: error: 'f[4][4]' under 't[2]': under each queue of 't' go one queue or an"
     " array\nqueue f[4][4]: fifo()\n^^^^^^^^^^^^^^^^^^^^^\n"
     "hint: queue f[2]: … or queue f[2][n]: …"),
    # cycle
    ('scheduler x\nqueue a[2]: fifo() of b\nqueue b[2]: fifo() of a\non enqueue { enqueue a[1] }\n',
     "t.xdpq:2:1: error: 'a' is under itself: its parents go round in a circle\n"
     "queue a[2]: fifo() of b\n^^^^^^^^^^^^^^^^^^^^^^^\n"
     "hint: a tree has a top, a queue that nothing schedules"),
    # indices
    ("scheduler x\nqueue f[4][4]: fifo()\nqueue t[4]: fifo() of f\nqueue r: fifo() of t\n"
     "on enqueue { enqueue f[1] }\n",
     "t.xdpq:5:14: error: 'f' has 2 dimensions: 1 index given\non enqueue { enqueue f[1] }\n"
     "             ^^^^^^^^^^^^\nhint: f[i][j]"),
    # ready params
    ("scheduler x\nqueue f[4][4]: fifo()\nqueue t[4]: fifo() of f\nqueue r: fifo() of t\n"
     "on enqueue { enqueue f[1][2] }\non ready f(i) { enqueue t }\n",
     "t.xdpq:6:1: error: 'on ready f' names 1 index, and 'f' has 2 dimensions\n"
     "on ready f(i) { enqueue t }\n^^^^^^^^^^^^^^^^^^^^^^^^^^^\nhint: on ready f(i0, i1)"),
    # implied
    ("scheduler x\nqueue f[4][4]: fifo()\nqueue t[4]: fifo() of f\nqueue r: fifo() of t\n"
     "on enqueue { enqueue f[1][2] }\non ready f(i, j) { enqueue t[i] }\n",
     "t.xdpq:6:30: error: the queue of 't' that schedules it is implied\n"
     "on ready f(i, j) { enqueue t[i] }\n                             ^\nhint: enqueue t rank …"),
    # rbtree arrays: as large as any array (one kernel rbtree each, whatever its size)
    ("scheduler x\nqueue f[4097]: rbtree()\nqueue r: pifo(range = 64) of f\n"
     "on enqueue { enqueue f[1] }\n",
     "t.xdpq:2:9: error: 4097 queues: an array holds 1 to 4096\nqueue f[4097]: rbtree()\n"
     "        ^^^^"),
    ("scheduler x\nqueue f[64][65]: rbtree(capacity = 8)\non enqueue { enqueue f[1][2] }\n",
     "t.xdpq:2:1: error: [64][65] is 4160 queues: an array holds 1 to 4096\n"
     "queue f[64][65]: rbtree(capacity = 8)\n^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"),
    # rbtree roots: 10 declarations at most, an array counted once
    ("scheduler x\nqueue f[64]: rbtree()\n" + "".join(f"queue t{i}: rbtree()\n" for i in range(10))
     + "on enqueue { enqueue f[1] }\n",
     "t.xdpq:12:1: error: 't9' is rbtree declaration 11: a program has at most 10\n"
     "queue t9: rbtree()\n^^^^^^^^^^^^^^^^^^\nhint: each is one kernel rbtree (an array too, "
     "whatever its size): make the rbtrees one array, e.g. queue t[16]: rbtree()"),
    # rbtree parent
    ("scheduler x\nqueue f[4]: fifo()\nqueue r: rbtree() of f\non enqueue { enqueue f[1] }\n",
     "t.xdpq:3:1: error: an rbtree cannot be a parent\nqueue r: rbtree() of f\n"
     "^^^^^^^^^^^^^^^^^^^^^^\nhint: a parent is a fifo (round robin) or a pifo (by rank): "
     "tokens move under the lock, where no rbtree node can be allocated"),
    # parent head
    ("scheduler x\nqueue f[4]: fifo()\nqueue r: fifo() of f\non enqueue { enqueue f[1] }\n"
     "on dequeue(p) { if r.head > 0 { drop x } }\n",
     "t.xdpq:5:20: error: 'r' schedules queues: only a queue of packets has a head packet\n"
     "on dequeue(p) { if r.head > 0 { drop x } }\n                   ^^^^^^\n"
     "hint: read the head of a queue under it"),
    # flow in ready
    ("scheduler x\nqueue f[4]: fifo()\nqueue r: pifo(range = 64) of f\n"
     "state per flow(ip.src) { n: count = 0 }\non enqueue { enqueue f[1] }\n"
     "on ready f(i) { enqueue r rank flow.n }\n",
     "t.xdpq:6:32: error: 'flow.n' in 'on ready': a ready hook places a queue, and per-flow"
     " state belongs to a packet\non ready f(i) { enqueue r rank flow.n }\n"
     "                               ^^^^^^\nhint: keep what the hook needs in per-queue state"),
    # clock at
    ("scheduler x\nqueue f[4]: fifo()\nqueue r: pifo(range = 64, clock = v) of f\n"
     "state global { v: bytes = 0 }\non enqueue { enqueue f[1] }\n"
     "on ready f(i) { enqueue r rank i at now }\n",
     "t.xdpq:6:37: error: 'at' takes bytes on the clock 'v' of 'r', not a time\n"
     "on ready f(i) { enqueue r rank i at now }\n                                    ^^^"),
    # clock global
    ('scheduler x\nqueue r: pifo(range = 64, clock = 5) \non enqueue { enqueue r }\n',
     "t.xdpq:2:35: error: a clock is a global of the program (a time, bytes or a count)\n"
     "queue r: pifo(range = 64, clock = 5) \n                                  ^\n"
     "hint: state global { vtime: bytes = 0 } and clock = vtime"),
    # signed rank
    ("scheduler x\nqueue q: pifo(range = 64)\nstate global { c: signed count = 0 }\n"
     "on enqueue { enqueue q rank c }\n",
     "t.xdpq:4:29: error: a rank is never below 0, and this is a signed count\n"
     "on enqueue { enqueue q rank c }\n                            ^\n"
     "hint: max(x, 0) is never below 0"),
    # signed store
    ("scheduler x\nqueue q: fifo()\nstate global { c: signed bytes = 0 }\n"
     "state global { d: bytes = 0 }\non enqueue {\n  d = c - 1B\n  enqueue q\n}\n",
     "t.xdpq:6:3: error: 'd' holds bytes, not signed bytes\n  d = c - 1B\n  ^\n"
     "hint: it may be below 0: max(x, 0) is never below 0, or declare 'd' signed"),
    # bool signed
    ("scheduler x\nqueue q: fifo()\nstate global { c: signed bool = false }\n"
     "on enqueue { enqueue q }\n",
     "t.xdpq:3:16: error: 'c': true/false has no sign\nstate global { c: signed bool = false }\n"
     "               ^^^^^^^^^^^^^^^^^^^^^^"),
]


def warnings(source: str) -> list[str]:
    return [w.render() for w in check(parse(source, "t.xdpq"), source).warnings]


def test_a_three_level_tree_with_a_single_middle_queue_checks() -> None:
    source = (HEAD + "queue leaves[4]: fifo()\nqueue mid: fifo() of leaves\n"
              "queue top: fifo() of mid\non enqueue { enqueue leaves[1] }\n")
    prog = check(parse(source, "t.xdpq"), source)
    assert [(q.name, q.parent) for q in prog.queues] == [
        ("leaves", "mid"), ("mid", "top"), ("top", None)]


def test_an_unsigned_value_below_0_is_a_warning() -> None:
    source = (HEAD + "queue q: fifo()\nstate global { credit: bytes = 0 }\non enqueue {\n"
              "  if credit < 0 {\n    drop broke\n  }\n  enqueue q\n}\n")
    assert warnings(source) == [
        "t.xdpq:5:6: warning: this is always false: bytes is never below 0\n"
        "  if credit < 0 {\n     ^^^^^^^^^^\n"
        "hint: declare what may go below 0 signed: credit: signed bytes = 0"]
    assert warnings(source.replace("credit: bytes", "credit: signed bytes")) == []


def test_priorities_wider_than_a_moving_window_are_a_warning() -> None:
    source = (HEAD + "queue q: pifo(range = 64)\non enqueue {\n  if ip.dscp >= 46 {\n"
              "    enqueue q rank 0\n  }\n  enqueue q rank 200\n}\n")
    assert warnings(source) == [
        "t.xdpq:2:1: warning: the ranks of 'q' lie in 0..200, wider than its two windows, and "
        "its window moves: it starts at the first rank the empty pifo holds, so a rank more "
        "than two windows below the highest it holds waits behind the lowest (strict priority "
        "is lost)\nqueue q: pifo(range = 64)\n"
        "^^^^^^^^^^^^^^^^^^^^^^^^^\nhint: fix its window: pifo(range = 128, base = 0)"]
    assert warnings(source.replace("range = 64)", "range = 128, base = 0)")) == []
    # Levels within its two windows keep their order: the window moves down to them.
    assert warnings(source.replace("rank 200", "rank 127")) == []
    # Ranks from state move on with it (a virtual time): no warning.
    assert warnings(source.replace("rank 200", "rank n").replace(
        "queue q:", "state global { n: count = 0 }\nqueue q:")) == []

