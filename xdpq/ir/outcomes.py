"""The outcomes of a scheduler's hooks, as the datapath names and counts them.

Both back ends report these: the C one as ``XDPQ_CLAIM``…, ``XDPQ_DEQ_*``
and ``enum xdpq_enq`` (kern/xdpq.h), the Python one as the values below.
Outcomes map onto the kernel's counter names (kern/counters.h), so that the
two executions can be compared drop for drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from xdpq.errors import XdpqError
from xdpq.queues import Enq


class Claim(Enum):
    CLAIM = "claim"
    UNCLAIMED = "pass_unclaimed"
    MALFORMED = "pass_malformed"
    ADMISSION = "drop_admission"


class Unclaimed(Enum):
    """Where frames the scheduler does not claim go (``xdpq deploy --unclaimed``)."""

    FORWARD = "forward"  # through the bypass FIFO, out of the egress (the default)
    STACK = "stack"  # to the local stack (XDP_PASS), as the claim's counter says

    @classmethod
    def parse(cls, text: str) -> Unclaimed:
        try:
            return cls(text)
        except ValueError:
            raise XdpqError(f"--unclaimed {text}: say forward (the default: frames the "
                            "scheduler does not claim, such as ARP, go out of the egress "
                            "first) or stack (they go to this host's stack)") from None


class Bypass(Enum):
    """What became of an unclaimed frame under ``Unclaimed.FORWARD``: into the bypass
    FIFO (kern/datapath.h), which the dequeue serves before the scheduler's queues, or
    dropped because that FIFO was full."""

    UNCLAIMED = "forward_unclaimed"
    MALFORMED = "forward_malformed"
    FULL = "drop_bypass_full"


# Frames the bypass FIFO holds (XDPQ_BYPASS_SLOTS; tests/test_twins.py holds them equal).
BYPASS_CAPACITY = 1024

# What xdpq_ingress does with a frame, by counter (kern/counters.h); each frame it sees
# lands in exactly one. Stored to be sent (XDP_DROP: consumed): into the scheduler's
# queues, or into the bypass FIFO.
STORED = ("enqueued", Bypass.UNCLAIMED.value, Bypass.MALFORMED.value)
# Handed to the local stack (XDP_PASS).
PASSED = (Claim.UNCLAIMED.value, "pass_oversize", Claim.MALFORMED.value)
# Dropped on arrival (XDP_DROP).
ARRIVAL_DROPS = ("drop_queue_full", "drop_no_slot", "drop_rank_window", "drop_no_memory",
                 Claim.ADMISSION.value, "drop_overlimit", Bypass.FULL.value)
INGRESS_COUNTERS = STORED + PASSED + ARRIVAL_DROPS
# Dropped from the queues after it was stored: by the dequeue hook (AQM), or pushed out
# of a full queue by a better arrival (``full = pushout``).
QUEUE_DROPS = ("drop_aqm", "drop_pushout")


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
        case Enq.PUSHOUT:  # the arrival stored, a queued packet dropped for it
            return ("drop_pushout", "enqueued")
        case Enq.CLAMPED_PUSHOUT:
            return ("pifo_clamped", "drop_pushout", "enqueued")
        case Enq.FULL:
            return ("drop_queue_full",)
        case Enq.OUT_OF_WINDOW:
            return ("drop_rank_window",)
        case _:
            return ("drop_no_memory",)
