"""What the simulator needs from a scheduler, and the outcomes it reports.

A scheduler sees parsed packets (``xdpq.packet.Packet``-like: the fields it
classifies on, plus ``len``) and keeps them in the reference queues of
``xdpq.queues`` — the same semantics as the kernel's queue maps. Outcomes use
the kernel's counter names, so that the two executions can be compared
drop for drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from xdpq.queues import Enq


class Claim(Enum):
    CLAIM = "claim"
    UNCLAIMED = "pass_unclaimed"
    MALFORMED = "pass_malformed"
    ADMISSION = "drop_admission"


class Deq(Enum):
    """Values of XDPQ_DEQ_* in kern/xdpq.h, in order."""

    OK = 0
    EMPTY = 1
    LATER = 2
    DROP = 3


@dataclass(frozen=True, slots=True)
class Dequeued:
    outcome: Deq
    item: int = -1  # the slot (an opaque handle the caller gave at enqueue)
    rank: int = 0
    size: int = 0
    when: int = 0  # LATER: the next eligibility time


class PacketFields(Protocol):
    len: int
    dscp: int
    flow_hash: int
    ip_ver: int


class Scheduler(Protocol):
    def classify(self, pkt: PacketFields, now: int) -> Claim: ...
    def enqueue(self, pkt: PacketFields, item: int, now: int) -> Enq: ...

    def admit(self, pkt: PacketFields, item: int, now: int) -> Claim | Enq:
        """``classify`` and, when it claims, ``enqueue``, in one call (what the
        simulator's loop calls): the claim when it does not, else the outcome."""
        ...
    def dequeue(self, now: int) -> Dequeued: ...

    def step(self, now: int) -> tuple[Deq, int, int, int, int]:
        """``dequeue`` as a plain tuple of Dequeued's fields (what the simulator's
        loop calls: it makes no object per packet); ``dequeue`` wraps it."""
        ...


def enqueue_counters(res: Enq) -> tuple[str, ...]:
    """The counters an enqueue outcome lands in, as xdpq_ingress counts them."""
    match res:
        case Enq.OK:
            return ("enqueued",)
        case Enq.CLAMPED:
            return ("pifo_clamped", "enqueued")
        case Enq.FULL:
            return ("drop_queue_full",)
        case Enq.OUT_OF_WINDOW:
            return ("drop_rank_window",)
        case _:
            return ("drop_no_memory",)
