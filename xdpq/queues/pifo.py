"""PIFO: a bucketed priority queue over a bounded window of ranks.

The rules (two windows of ``range`` ranks, where ``base`` comes from, what
ranks below and beyond the windows do, when the secondary is promoted) are
docs/queues.md's, the one spec this model and kern/pifo.h follow.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush

from xdpq.queues.base import RANK_MAX, Enq, Entries, Raw, bad_rank

# Outcomes as plain names: looking up an Enum member costs ten times more.
_OK, _FULL, _CLAMPED, _OUT_OF_WINDOW = Enq.OK, Enq.FULL, Enq.CLAMPED, Enq.OUT_OF_WINDOW

MIN_RANGE = 64
MAX_RANGE = 65536


class Pifo(Entries):
    """Each window is a heap of ``(offset, arrival number, entry)``: the lowest
    bucket first and, within a bucket, arrival order (the model's stand-in for
    the kernel's buckets and find-first-set bitmap). The primary window's heap
    is ``_p``, the secondary's ``_s``; offsets count from the window's start.
    With a ``base``, the windows stay where it puts them (``fixed``)."""

    def __init__(self, capacity: int, range_: int, base: int | None = None) -> None:
        if range_ & (range_ - 1) or not MIN_RANGE <= range_ <= MAX_RANGE:
            raise ValueError(f"PIFO range {range_}: a power of two from 64 to 65536")
        self.capacity = capacity
        self.range = range_
        self.fixed = base is not None
        self.base = base or 0
        self._p: list[tuple[int, int, Raw]] = []
        self._s: list[tuple[int, int, Raw]] = []
        self._arrivals = 0
        self._bytes = 0

    def enqueue(self, rank: int, slot: int, size: int) -> Enq:
        if not 0 <= rank <= RANK_MAX:
            raise bad_rank(rank)
        n = len(self._p) + len(self._s)
        if n >= self.capacity:
            return _FULL
        if n == 0 and not self.fixed:
            self.base = rank
        base, window = self.base, self.range
        if rank < base:
            offset, outcome = 0, _CLAMPED
        else:
            offset, outcome = rank - base, _OK
        if offset < window:
            heap = self._p
        elif offset < 2 * window:
            offset -= window
            heap = self._s
        else:
            return _OUT_OF_WINDOW
        self._arrivals += 1
        heappush(heap, (offset, self._arrivals, (rank, slot, size)))
        self._bytes += size
        return outcome

    def evict(self, rank: int) -> Raw | None:
        """Push-out (docs/queues.md): the worst entry, the last of the highest
        non-empty bucket (the secondary's before the primary's), taken out if
        ``rank`` would be served before it (a lower bucket); else None. (kern/pifo.h
        finds it in O(1) by its bitmap; here a scan of the heap.)"""
        if self._s:
            heap, worst = self._s, self.range
        elif self._p:
            heap, worst = self._p, 0
        else:
            return None
        victim = max(heap)
        if max(rank - self.base, 0) >= worst + victim[0]:
            return None
        heap.remove(victim)
        heapify(heap)
        self._bytes -= victim[2][2]
        return victim[2]

    def _head(self) -> list[tuple[int, int, Raw]]:
        """The window to serve from: the primary; when it is empty, the secondary,
        which becomes the primary (with a fixed base, it is served where it is)."""
        if not self._p and self._s:
            if self.fixed:
                return self._s
            self._p, self._s = self._s, []
            self.base += self.range
        return self._p

    def first(self) -> Raw | None:
        h = self._head()
        return h[0][2] if h else None

    def pop(self) -> Raw | None:
        h = self._head()
        if not h:
            return None
        e = heappop(h)[2]
        self._bytes -= e[2]
        return e

    def __len__(self) -> int:
        return len(self._p) + len(self._s)

    @property
    def bytes(self) -> int:
        return self._bytes
