"""The outcomes of a scheduler's hooks, as the datapath names and counts them.

Both back ends report these: the C one as ``XDPQ_CLAIM``…, ``XDPQ_DEQ_*``
and ``enum xdpq_enq`` (kern/xdpq.h), the Python one as the values below.
Outcomes map onto the kernel's counter names (kern/counters.h), so that the
two executions can be compared drop for drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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
