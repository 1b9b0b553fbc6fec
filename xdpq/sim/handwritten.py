"""Python twins of the hand-written C schedulers in kern/sched/.

They exist for the same reason as those: to prove the datapath and the
simulator agree before the language generates schedulers for both. Each
mirrors its C file's arithmetic exactly (64-bit wrap-around, the PIFO rank
shift), so any disagreement is a bug on one side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdpq.queues import Enq, Fifo, Pifo
from xdpq.sim.scheduler import Claim, Deq, Dequeued, PacketFields

U64 = (1 << 64) - 1

def claim_ip(pkt: PacketFields) -> Claim:
    """kern/xdpq.h xdpq_claim_ip: the caller passes only frames that parsed OK."""
    return Claim.CLAIM if pkt.ip_ver else Claim.UNCLAIMED


EMPTY = Dequeued(Deq.EMPTY)


def dequeued(queue: Fifo | Pifo) -> Dequeued:
    e = queue.dequeue()
    return EMPTY if e is None else Dequeued(Deq.OK, e.slot, e.rank, e.size)


@dataclass
class FifoScheduler:
    """kern/sched/fifo.bpf.c"""

    capacity: int = 1024
    q: Fifo = field(init=False)

    def __post_init__(self) -> None:
        self.q = Fifo(self.capacity)

    def classify(self, pkt: PacketFields, now: int) -> Claim:
        return claim_ip(pkt)

    def enqueue(self, pkt: PacketFields, item: int, now: int) -> Enq:
        return self.q.enqueue(now, item, pkt.len)

    def dequeue(self, now: int) -> Dequeued:
        return dequeued(self.q)


@dataclass
class PrioScheduler:
    """kern/sched/prio.bpf.c: three strict classes by DSCP."""

    capacity: int = 1024
    qs: list[Fifo] = field(init=False)

    def __post_init__(self) -> None:
        self.qs = [Fifo(self.capacity) for _ in range(3)]

    def classify(self, pkt: PacketFields, now: int) -> Claim:
        return claim_ip(pkt)

    def enqueue(self, pkt: PacketFields, item: int, now: int) -> Enq:
        cls = 0 if pkt.dscp >= 40 else 1 if pkt.dscp >= 16 else 2
        return self.qs[cls].enqueue(now, item, pkt.len)

    def dequeue(self, now: int) -> Dequeued:
        for q in self.qs:
            if len(q):
                return dequeued(q)
        return EMPTY


TAG_SHIFT, RANK_SHIFT = 16, 20


@dataclass
class StfqScheduler:
    """kern/sched/stfq.bpf.c: start-time fair queueing over a PIFO."""

    capacity: int = 4096
    weights: list[int] = field(default_factory=lambda: [1] * 8)
    q: Pifo = field(init=False)
    finish: dict[int, int] = field(default_factory=dict)
    vtime: int = 0

    def __post_init__(self) -> None:
        self.q = Pifo(self.capacity, 65536)

    def classify(self, pkt: PacketFields, now: int) -> Claim:
        return claim_ip(pkt)

    def enqueue(self, pkt: PacketFields, item: int, now: int) -> Enq:
        weight = self.weights[(pkt.dscp >> 3) & 7] or 1
        start = max(self.finish.get(pkt.flow_hash, 0), self.vtime)
        res = self.q.enqueue(start >> RANK_SHIFT, item, pkt.len)
        if res.stored:
            self.finish[pkt.flow_hash] = (start + ((pkt.len << TAG_SHIFT) // weight)) & U64
        return res

    def dequeue(self, now: int) -> Dequeued:
        d = dequeued(self.q)
        if d.outcome is Deq.OK:
            self.vtime = (d.rank << RANK_SHIFT) & U64
        return d
