"""What the three reference queues share: entries, enqueue outcomes, the interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import IntEnum
from heapq import heapify
from typing import Protocol

RANK_MAX = (1 << 64) - 1


class Enq(IntEnum):
    """Outcome of an enqueue; values match ``enum xdpq_enq`` in kern/queue_common.h."""

    OK = 0
    CLAMPED = 1  # stored, but the rank was below the PIFO window
    FULL = 2
    OUT_OF_WINDOW = 3
    NO_MEMORY = 4
    BAD_SLOT = 5
    PUSHOUT = 6  # stored in a full queue, whose worst entry was pushed out for it
    CLAMPED_PUSHOUT = 7  # both: stored below the PIFO window, and pushed one out

    @property
    def stored(self) -> bool:
        return self in STORED

    @property
    def pushed_out(self) -> bool:
        """Whether a queued entry was pushed out for this one."""
        return self in (Enq.PUSHOUT, Enq.CLAMPED_PUSHOUT)


# The outcomes that keep the arrival: generated code tests membership, as a property
# lookup per packet costs more than the set.
STORED = frozenset((Enq.OK, Enq.CLAMPED, Enq.PUSHOUT, Enq.CLAMPED_PUSHOUT))


@dataclass(frozen=True, slots=True)
class Entry:
    rank: int
    slot: int
    size: int


# An entry as a plain tuple (rank, slot, size): what the simulator handles, as making
# an object per packet costs more than the rest of a queue operation.
Raw = tuple[int, int, int]


class Queue(Protocol):
    capacity: int

    def enqueue(self, rank: int, slot: int, size: int) -> Enq: ...
    def first(self) -> Raw | None: ...
    def pop(self) -> Raw | None: ...
    def peek(self) -> Entry | None: ...
    def dequeue(self) -> Entry | None: ...
    def __len__(self) -> int: ...
    @property
    def bytes(self) -> int: ...


def take_worst(heap: list[tuple[int, int, Raw]], position: int) -> Raw | None:
    """Push-out from a heap of (rank, seq, entry): its greatest item (the highest rank,
    among equal ranks the last to come) taken out if an arrival served at ``position``
    would leave before it; else None. A scan, O(n): the kernel's is O(1), and this is
    the reference."""
    if not heap:
        return None
    victim = max(heap)
    if position >= victim[0]:
        return None
    heap.remove(victim)
    heapify(heap)
    return victim[2]


def bad_rank(rank: int) -> ValueError:
    """What an enqueue raises for a rank outside 0..RANK_MAX (checked inline: it is hot)."""
    return ValueError(f"rank {rank} is not an unsigned 64-bit integer")


class Entries(ABC):
    """``peek`` and ``dequeue`` as Entry objects, over a queue's ``first`` and ``pop``."""

    @abstractmethod
    def first(self) -> Raw | None: ...

    @abstractmethod
    def pop(self) -> Raw | None: ...

    def peek(self) -> Entry | None:
        raw = self.first()
        return None if raw is None else Entry(*raw)

    def dequeue(self) -> Entry | None:
        raw = self.pop()
        return None if raw is None else Entry(*raw)
