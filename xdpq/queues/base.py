"""What the three reference queues share: entries, enqueue outcomes, the interface."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
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

    @property
    def stored(self) -> bool:
        return self in (Enq.OK, Enq.CLAMPED)


@dataclass(slots=True)  # not frozen: a frozen dataclass is four times slower to make
class Entry:
    rank: int
    slot: int
    size: int


class Queue(Protocol):
    capacity: int

    def enqueue(self, rank: int, slot: int, size: int) -> Enq: ...
    def peek(self) -> Entry | None: ...
    def dequeue(self) -> Entry | None: ...
    def __len__(self) -> int: ...
    @property
    def bytes(self) -> int: ...


def bad_rank(rank: int) -> ValueError:
    """What an enqueue raises for a rank outside 0..RANK_MAX (checked inline: it is hot)."""
    return ValueError(f"rank {rank} is not an unsigned 64-bit integer")
