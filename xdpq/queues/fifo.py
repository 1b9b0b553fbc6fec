"""FIFO: arrival order; the rank is kept for the dequeue hook but ignored."""

from __future__ import annotations

from collections import deque

from xdpq.queues.base import RANK_MAX, Enq, Entries, Raw, bad_rank

# Outcomes as plain names: looking up an Enum member costs ten times more.
_OK, _FULL = Enq.OK, Enq.FULL


class Fifo(Entries):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._q: deque[Raw] = deque()
        self._bytes = 0

    def enqueue(self, rank: int, slot: int, size: int) -> Enq:
        if not 0 <= rank <= RANK_MAX:
            raise bad_rank(rank)
        if len(self._q) >= self.capacity:
            return _FULL
        self._q.append((rank, slot, size))
        self._bytes += size
        return _OK

    def first(self) -> Raw | None:
        return self._q[0] if self._q else None

    def pop(self) -> Raw | None:
        if not self._q:
            return None
        e = self._q.popleft()
        self._bytes -= e[2]
        return e

    def __len__(self) -> int:
        return len(self._q)

    @property
    def bytes(self) -> int:
        return self._bytes
