"""PIFO: a bucketed priority queue over a bounded window of ranks.

The rules (two windows of ``range`` ranks, where ``base`` comes from, what
ranks below and beyond the windows do, when the secondary is promoted) are
docs/queues.md's, the one spec this model and kern/pifo.h follow.
"""

from __future__ import annotations

from heapq import heappop, heappush

from xdpq.queues.base import RANK_MAX, Enq, Entries, Raw, bad_rank, take_worst

# Outcomes as plain names: looking up an Enum member costs ten times more.
_OK, _FULL, _CLAMPED, _OUT_OF_WINDOW = Enq.OK, Enq.FULL, Enq.CLAMPED, Enq.OUT_OF_WINDOW

MIN_RANGE = 64
MAX_RANGE = 65536


class Pifo(Entries):
    """One heap of ``(position, arrival number, entry)``: the lowest bucket first
    and, within a bucket, arrival order (the model's stand-in for the kernel's
    buckets and find-first-set bitmaps). A position is the rank the entry is
    served as (its own, or ``base`` when clamped); every position lies in
    ``[base, base + 2 * range)``, so ordering by it is the kernel's circular order
    from ``base``. ``top`` is the highest position stored since the PIFO was last
    empty, what bounds how far ``base`` may move down. With a ``base``, the
    windows stay where it puts them (``fixed``)."""

    def __init__(self, capacity: int, range_: int, base: int | None = None) -> None:
        if range_ & (range_ - 1) or not MIN_RANGE <= range_ <= MAX_RANGE:
            raise ValueError(f"PIFO range {range_}: a power of two from 64 to 65536")
        self.capacity = capacity
        self.range = range_
        self.fixed = base is not None
        self.base = base or 0
        self.top = self.base
        self._h: list[tuple[int, int, Raw]] = []
        self._arrivals = 0
        self._bytes = 0

    def window(self, rank: int) -> Enq:
        """What enqueueing ``rank`` would answer, capacity aside."""
        if not (self._h or self.fixed):
            return _OK
        if rank < self.base:
            return _OK if self._lowers(rank) else _CLAMPED
        return _OUT_OF_WINDOW if rank - self.base >= 2 * self.range else _OK

    def _lowers(self, rank: int) -> bool:
        """May ``base`` move down to ``rank``: every entry still within two windows."""
        return not self.fixed and self.top - rank < 2 * self.range

    def enqueue(self, rank: int, slot: int, size: int) -> Enq:
        if not 0 <= rank <= RANK_MAX:
            raise bad_rank(rank)
        if len(self._h) >= self.capacity:
            return _FULL
        if not (self._h or self.fixed):
            self.base = self.top = rank
        outcome = self.window(rank)
        if outcome is _OUT_OF_WINDOW:
            return outcome
        if outcome is _CLAMPED:
            position = self.base
        else:
            position = rank
            self.base = min(self.base, rank)
        self.top = max(self.top, position)
        self._arrivals += 1
        heappush(self._h, (position, self._arrivals, (rank, slot, size)))
        self._bytes += size
        return outcome

    def evict(self, rank: int) -> Raw | None:
        """Push-out (docs/queues.md): the worst entry, the last of the highest
        non-empty bucket, taken out if ``rank`` would be served before it (a lower
        bucket; a rank below ``base`` that lowers it, always); else None.
        (kern/pifo.h finds it in O(1) by its bitmap.)"""
        position = rank if rank >= self.base or self._lowers(rank) else self.base
        victim = take_worst(self._h, position)
        if victim is not None:
            self._bytes -= victim[2]
        return victim

    def _head(self) -> list[tuple[int, int, Raw]]:
        """The heap to serve from; when the primary window holds nothing, the
        secondary becomes the primary (with a fixed base, it is served where it is)."""
        h = self._h
        if h and not self.fixed and h[0][0] - self.base >= self.range:
            self.base += self.range
        return h

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
        return len(self._h)

    @property
    def bytes(self) -> int:
        return self._bytes
