"""PIFO: a bucketed priority queue over a bounded window of ranks.

The rules, as written in docs/queues.md (the kernel's kern/pifo.h follows
the same text):

- There are two windows of ``range`` ranks. The primary covers
  ``[base, base + range)``, the secondary ``[base + range, base + 2*range)``.
- An enqueue into an empty PIFO sets ``base`` to its rank.
- A rank below ``base`` is served as if it were ``base``: it joins the back of
  the lowest rank's bucket (outcome ``CLAMPED``; the entry keeps its rank).
- A rank at or beyond ``base + 2*range`` is refused (``OUT_OF_WINDOW``).
- Within a bucket, arrival order. When the primary window is empty while the
  secondary holds packets, the next dequeue or peek makes the secondary the
  primary and advances ``base`` by ``range`` (not the dequeue that emptied
  it: a rank put back at once at the rank just served stays in its window).
"""

from __future__ import annotations

import heapq
from collections import deque

from xdpq.queues.base import Enq, Entry, check_rank

MIN_RANGE = 64
MAX_RANGE = 65536


class _Window:
    """The buckets of one window, with a heap of the occupied ones' offsets
    (the model's stand-in for the kernel's find-first-set bitmap)."""

    __slots__ = ("buckets", "occupied")

    def __init__(self) -> None:
        self.buckets: dict[int, deque[Entry]] = {}
        self.occupied: list[int] = []

    def append(self, offset: int, entry: Entry) -> None:
        bucket = self.buckets.get(offset)
        if bucket is None:
            bucket = self.buckets[offset] = deque()
            heapq.heappush(self.occupied, offset)
        bucket.append(entry)

    def head(self) -> deque[Entry] | None:
        return self.buckets[self.occupied[0]] if self.occupied else None

    def pop(self) -> Entry:
        offset = self.occupied[0]
        bucket = self.buckets[offset]
        entry = bucket.popleft()
        if not bucket:
            del self.buckets[offset]
            heapq.heappop(self.occupied)
        return entry


class Pifo:
    def __init__(self, capacity: int, range_: int) -> None:
        if range_ & (range_ - 1) or not MIN_RANGE <= range_ <= MAX_RANGE:
            raise ValueError(f"PIFO range {range_}: a power of two from 64 to 65536")
        self.capacity = capacity
        self.range = range_
        self.base = 0
        self._primary = _Window()
        self._secondary = _Window()
        self._len = 0
        self._bytes = 0

    def enqueue(self, rank: int, slot: int, size: int) -> Enq:
        check_rank(rank)
        if self._len >= self.capacity:
            return Enq.FULL
        if self._len == 0:
            self.base = rank
        outcome = Enq.OK
        if rank < self.base:
            offset, outcome = 0, Enq.CLAMPED
        else:
            offset = rank - self.base
        if offset < self.range:
            self._primary.append(offset, Entry(rank, slot, size))
        elif offset < 2 * self.range:
            self._secondary.append(offset - self.range, Entry(rank, slot, size))
        else:
            return Enq.OUT_OF_WINDOW
        self._len += 1
        self._bytes += size
        return outcome

    def _promote(self) -> None:
        if self._len and not self._primary.buckets:
            self._primary, self._secondary = self._secondary, _Window()
            self.base += self.range

    def peek(self) -> Entry | None:
        self._promote()
        bucket = self._primary.head()
        return bucket[0] if bucket else None

    def dequeue(self) -> Entry | None:
        if not self._len:
            return None
        self._promote()
        e = self._primary.pop()
        self._len -= 1
        self._bytes -= e.size
        return e

    def __len__(self) -> int:
        return self._len

    @property
    def bytes(self) -> int:
        return self._bytes
