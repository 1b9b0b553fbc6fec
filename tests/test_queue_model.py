"""The reference queues follow their written rules (no kernel needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xdpq.queues import RANK_MAX, Enq, Fifo, Pifo, RBTree


def drain(q: Fifo | Pifo | RBTree) -> list[tuple[int, int]]:
    return [(e.rank, e.slot) for e in iter(q.dequeue, None)]


def test_fifo_ignores_rank() -> None:
    q = Fifo(8)
    for slot, rank in enumerate([9, 1, 5]):
        assert q.enqueue(rank, slot, 100) is Enq.OK
    assert drain(q) == [(9, 0), (1, 1), (5, 2)]


@given(st.lists(st.integers(0, RANK_MAX), max_size=60))
def test_rbtree_is_a_stable_sort(ranks: list[int]) -> None:
    q = RBTree(len(ranks))
    for slot, rank in enumerate(ranks):
        q.enqueue(rank, slot, 1)
    assert drain(q) == sorted(((r, s) for s, r in enumerate(ranks)), key=lambda e: e[0])


@given(st.lists(st.integers(0, 127), min_size=1, max_size=60))
def test_pifo_sorts_within_its_windows(offsets: list[int]) -> None:
    # The first rank sets the base; every later rank within two windows of it
    # and not below it leaves in exact (stable) rank order.
    base = 1000
    q = Pifo(len(offsets) + 1, 64)
    q.enqueue(base, 0, 1)
    for slot, off in enumerate(offsets, start=1):
        assert q.enqueue(base + off, slot, 1) is Enq.OK
    want = sorted([(base, 0)] + [(base + o, s) for s, o in enumerate(offsets, 1)],
                  key=lambda e: e[0])
    assert drain(q) == want


def test_pifo_window_rules() -> None:
    q = Pifo(16, 64)
    assert q.enqueue(100, 0, 1) is Enq.OK  # base = 100
    assert q.enqueue(100 + 127, 2, 1) is Enq.OK  # last rank of the secondary
    assert q.enqueue(100 + 128, 3, 1) is Enq.OUT_OF_WINDOW
    assert q.enqueue(RANK_MAX, 4, 1) is Enq.OUT_OF_WINDOW
    assert q.enqueue(99, 1, 1) is Enq.CLAMPED  # 227 would leave the windows: as rank 100
    assert q.dequeue().slot == 0
    assert q.dequeue().slot == 1
    assert q.base == 100  # the primary emptied: promoted at the next dequeue
    assert q.dequeue().slot == 2
    assert q.base == 164
    assert len(q) == 0
    assert q.enqueue(5, 5, 1) is Enq.OK  # empty again: base resets to the new rank
    assert q.base == 5


def test_pifo_lowers_its_base_while_its_entries_fit_two_windows() -> None:
    """A calendar queue: a rank below base moves base down to it when every entry
    stays within two windows of it, and is served in its order, not clamped."""
    q = Pifo(16, 64)
    q.enqueue(100, 0, 1)
    q.enqueue(150, 1, 1)
    assert q.enqueue(90, 2, 1) is Enq.OK
    assert q.base == 90
    assert q.enqueue(22, 3, 1) is Enq.CLAMPED  # 150 would leave its windows: as rank 90
    assert q.base == 90
    assert [q.dequeue().slot for _ in range(4)] == [2, 3, 0, 1]


def test_pifo_promotes_secondary_and_advances_base() -> None:
    q = Pifo(16, 64)
    q.enqueue(0, 0, 1)
    q.enqueue(64, 1, 1)
    q.dequeue()
    assert q.peek().slot == 1  # a peek promotes too
    assert q.base == 64
    assert q.enqueue(64 + 127, 2, 1) is Enq.OK  # the new secondary window


def test_pifo_a_rank_put_back_after_emptying_the_primary_keeps_its_window() -> None:
    """DRR's pattern: the last packet of the primary leaves, and its flow is put back
    at the rank just served; it is served before the secondary, not clamped behind it."""
    q = Pifo(16, 64)
    q.enqueue(63, 0, 1)
    q.enqueue(64, 1, 1)
    assert q.dequeue().slot == 0
    assert q.enqueue(63, 2, 1) is Enq.OK
    assert [q.dequeue().slot, q.dequeue().slot] == [2, 1]


@pytest.mark.parametrize("cls", [Fifo, RBTree])
def test_capacity(cls: type[Fifo] | type[RBTree]) -> None:
    q = cls(2)
    assert [q.enqueue(1, s, 10) for s in range(3)] == [Enq.OK, Enq.OK, Enq.FULL]
    assert len(q) == 2 and q.bytes == 20


def test_pifo_range_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        Pifo(8, 100)
