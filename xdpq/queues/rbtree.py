"""RBtree: exact order over the 64-bit rank space, ties in enqueue order."""

from __future__ import annotations

import heapq
import itertools

from xdpq.queues.base import RANK_MAX, Enq, Entries, Raw, bad_rank, take_worst

# Outcomes as plain names: looking up an Enum member costs ten times more.
_OK, _FULL = Enq.OK, Enq.FULL


class RBTree(Entries):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._heap: list[tuple[int, int, Raw]] = []
        self._seq = itertools.count()
        self._bytes = 0

    def enqueue(self, rank: int, slot: int, size: int) -> Enq:
        if not 0 <= rank <= RANK_MAX:
            raise bad_rank(rank)
        if len(self._heap) >= self.capacity:
            return _FULL
        heapq.heappush(self._heap, (rank, next(self._seq), (rank, slot, size)))
        self._bytes += size
        return _OK

    def evict(self, rank: int) -> Raw | None:
        """Push-out (docs/queues.md): the worst entry, the highest rank and among
        equal ranks the last to come (kern/rbtree.h: the rightmost node), taken out
        if ``rank`` is lower; else None."""
        victim = take_worst(self._heap, rank)
        if victim is not None:
            self._bytes -= victim[2]
        return victim

    def first(self) -> Raw | None:
        return self._heap[0][2] if self._heap else None

    def pop(self) -> Raw | None:
        if not self._heap:
            return None
        e = heapq.heappop(self._heap)[2]
        self._bytes -= e[2]
        return e

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def bytes(self) -> int:
        return self._bytes
