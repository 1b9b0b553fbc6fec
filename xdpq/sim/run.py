"""One simulation: arrivals through a scheduler onto a link, with records.

The scheduler runs as the kernel's timer does: on an arrival to an idle
scheduler, at a pacing eligibility time, and after a completion that lifts
the BQL limit; each run moves packets into the device while the limit
allows. Outcomes are counted under the kernel's counter names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from xdpq.runtime.bql import Bql
from xdpq.sim.engine import Engine
from xdpq.sim.link import BqlState, Link
from xdpq.sim.scheduler import Claim, Deq, Scheduler, enqueue_counters

DROPPED = -1


@dataclass(frozen=True, slots=True)
class SimPacket:
    """The fields a scheduler classifies on (a subset of xdpq.packet.Packet)."""

    len: int
    flow: int  # the workload's flow number, for metrics
    flow_hash: int
    dscp: int = 0
    ip_ver: int = 4
    sport: int = 0
    dport: int = 0


@dataclass(frozen=True, slots=True)
class Arrival:
    time: int
    packet: SimPacket


@dataclass(slots=True)
class Record:
    flow: int
    size: int
    arrived: int
    departed: int = DROPPED  # when the last bit reached the far end
    outcome: str = ""  # counter name: "delivered" or the drop/pass reason


@dataclass
class Result:
    records: list[Record]
    counters: Counter[str]
    duration_ns: int
    bql_limit: int = 0


@dataclass
class Simulation:
    scheduler: Scheduler
    rate_bps: int
    propagation_ns: int = 0
    # The datapath's default. With BQL off every packet goes straight into the
    # device queue, and any scheduler becomes FIFO (a test shows it).
    bql: Bql = field(default_factory=Bql)

    def run(self, arrivals: Iterable[Arrival], until: int | None = None) -> Result:
        engine = Engine()
        records: list[Record] = []
        counters: Counter[str] = Counter()
        bql = BqlState(self.bql)
        busy = False

        def deliver(item: int) -> None:
            rec = records[item]
            rec.departed, rec.outcome = engine.now, "delivered"

        def complete(item: int) -> None:
            if bql.blocked and bql.allows():
                bql.blocked = False
                schedule()

        link = Link(engine, self.rate_bps, self.propagation_ns, bql, complete, deliver)

        def schedule() -> None:
            nonlocal busy
            while True:
                if not bql.allows():
                    bql.blocked = bql.hit = True
                    return
                d = self.scheduler.dequeue(engine.now)
                match d.outcome:
                    case Deq.EMPTY:
                        busy = False
                        return
                    case Deq.LATER:
                        engine.at(d.when, schedule)
                        return
                    case Deq.DROP:
                        counters["drop_aqm"] += 1
                        records[d.item].outcome = "drop_aqm"
                    case Deq.OK:
                        counters["dequeued"] += 1
                        link.send(d.item, d.size)

        def arrive(pkt: SimPacket) -> None:
            nonlocal busy
            item = len(records)
            rec = Record(pkt.flow, pkt.len, engine.now)
            records.append(rec)
            claim = self.scheduler.classify(pkt, engine.now)
            if claim is not Claim.CLAIM:
                counters[claim.value] += 1
                rec.outcome = claim.value
                return
            names = enqueue_counters(self.scheduler.enqueue(pkt, item, engine.now))
            counters.update(names)
            if names[-1] != "enqueued":
                rec.outcome = names[-1]
                return
            if not busy:
                busy = True
                engine.at(engine.now, schedule)

        engine.run(((a.time, a.packet) for a in arrivals), arrive, until)
        return Result(records, counters, engine.now, bql.limit)
