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

from collections import deque
from heapq import heappop, heappush

from xdpq.queues.base import Enq, Entry, check_rank

MIN_RANGE = 64
MAX_RANGE = 65536


class Pifo:
    """Each window is a dict of buckets (offset -> entries in arrival order) and a
    heap of the occupied offsets (the model's stand-in for the kernel's
    find-first-set bitmap); the primary's are ``_pb``/``_po``, the secondary's
    ``_sb``/``_so``."""

    def __init__(self, capacity: int, range_: int) -> None:
        if range_ & (range_ - 1) or not MIN_RANGE <= range_ <= MAX_RANGE:
            raise ValueError(f"PIFO range {range_}: a power of two from 64 to 65536")
        self.capacity = capacity
        self.range = range_
        self.base = 0
        self._pb: dict[int, deque[Entry]] = {}
        self._po: list[int] = []
        self._sb: dict[int, deque[Entry]] = {}
        self._so: list[int] = []
        self._len = 0
        self._bytes = 0

    def enqueue(self, rank: int, slot: int, size: int) -> Enq:
        check_rank(rank)
        n = self._len
        if n >= self.capacity:
            return Enq.FULL
        if n == 0:
            self.base = rank
        base, window = self.base, self.range
        if rank < base:
            offset, outcome = 0, Enq.CLAMPED
        else:
            offset, outcome = rank - base, Enq.OK
        if offset < window:
            buckets, occupied = self._pb, self._po
        elif offset < 2 * window:
            offset -= window
            buckets, occupied = self._sb, self._so
        else:
            return Enq.OUT_OF_WINDOW
        bucket = buckets.get(offset)
        if bucket is None:
            bucket = buckets[offset] = deque()
            heappush(occupied, offset)
        bucket.append(Entry(rank, slot, size))
        self._len = n + 1
        self._bytes += size
        return outcome

    def _promote(self) -> None:
        if self._len and not self._pb:
            self._pb, self._po, self._sb, self._so = self._sb, self._so, {}, []
            self.base += self.range

    def peek(self) -> Entry | None:
        self._promote()
        return self._pb[self._po[0]][0] if self._po else None

    def dequeue(self) -> Entry | None:
        if not self._len:
            return None
        if not self._pb:
            self._promote()
        occupied = self._po
        offset = occupied[0]
        bucket = self._pb[offset]
        e = bucket.popleft()
        if not bucket:
            del self._pb[offset]
            heappop(occupied)
        self._len -= 1
        self._bytes -= e.size
        return e

    def __len__(self) -> int:
        return self._len

    @property
    def bytes(self) -> int:
        return self._bytes
