"""One simulation: arrivals through a scheduler onto a link, with records.

The scheduler runs as the kernel's timer does: on an arrival to an idle
scheduler, at a pacing eligibility time, at the time xdpq's own link rate
lets the next frame go, and after a completion that lifts the BQL limit;
each run moves packets into the device while the BQL limit and the link rate
allow (``xdpq.ir.link``: Bql, Shaper). Outcomes are counted under the
kernel's counter names.

The event loop is written for speed, so it keeps no heap. Time is integer
nanoseconds. Besides the (time-ordered) arrivals, at most two events are
ever pending: the completion of the frame on the wire (the device sends one
at a time) and the scheduler's next run (it is either idle, waiting for an
arrival; stopped on the BQL limit, waiting for a completion; or waiting for
one eligibility or release time). Arrivals at a time run before events at that time;
two events at one time run in the order they were scheduled; a delivery
(a completion plus the propagation delay) changes nothing but its record,
so it is written at once and counts only if it falls within ``until``. A run
is a pure function of its inputs.

Closed-loop sources (TCP: ``xdpq.sim.tcp``) send what the deliveries they
hear of let them. They come as one more stream of arrivals whose next time
can move: a :class:`ClosedLoop` keeps its own events (segments on their way,
ACKs, timers) and says when the next is due; the loop runs them as arrivals
(open-loop arrivals first at equal times), hands it each of its packets the
link delivers, and asks again. Without one, the loop is the open-loop one.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from itertools import chain
from typing import Any, Protocol

from xdpq.codegen.python import Scheduler
from xdpq.ir.layout import POOL_SLOTS
from xdpq.ir.link import BQL_HOLD_NS, BQL_MAX, BQL_MIN, NS_BITS, Bql, BqlMode, Shaper
from xdpq.ir.outcomes import Bypass, Claim, Deq, Unclaimed, enqueue_counters
from xdpq.packet import Packet
from xdpq.queues import Enq
from xdpq.sim.bypass import Bypassed

DROPPED = -1
_NEVER = 1 << 80  # later than any time (times are 64-bit)


_PACKET_FIELDS = tuple(f.name for f in fields(Packet))


@dataclass(frozen=True, slots=True)
class FlowPacket(Packet):
    """A packet of a workload: the fields ``xdpq.packet.parse`` would give for its frame
    (so that a scheduler can classify on any of them), and the workload's tags."""

    flow: int = -1  # the workload's flow number, for metrics
    flow_size: int = 0  # bytes of the whole flow; 0 when the flow has no end

    @classmethod
    def of(cls, packet: Packet, flow: int, length: int | None = None) -> FlowPacket:
        """A parsed packet as flow ``flow``'s (its length on the wire, if given)."""
        fields = {f: getattr(packet, f) for f in _PACKET_FIELDS}
        if length is not None:
            fields["len"] = length
        return cls(**fields, flow=flow)


@dataclass(frozen=True, slots=True)
class Arrival:
    time: int
    packet: FlowPacket


@dataclass(slots=True)
class Record:
    flow: int
    size: int
    arrived: int
    departed: int = DROPPED  # when the last bit reached the far end
    outcome: str = ""  # "delivered", the drop/pass counter, or "unfinished" (the run ended)


@dataclass
class Result:
    records: list[Record]
    counters: Counter[str]
    duration_ns: int
    bql_limit: int = 0


_LAST = Arrival(_NEVER, FlowPacket())  # ends the stream of arrivals


class ClosedLoop(Protocol):
    """Sources whose packets depend on what was delivered (``xdpq.sim.tcp.TcpAgent``)."""

    def next_time(self) -> int:
        """When its next event is due (later than any time when it has none)."""
        ...

    def pop(self) -> tuple[FlowPacket, Any] | None:
        """Run its next event: a packet arriving now, with what to tell :meth:`deliver`
        of it, or None."""
        ...

    def deliver(self, t: int, info: Any, ce: bool) -> int:
        """Its packet ``info`` was delivered at ``t`` (marked CE or not); the time of
        its next event."""
        ...


@dataclass
class Simulation:
    scheduler: Scheduler
    rate_bps: int
    propagation_ns: int = 0
    # The datapath's default. With BQL off every packet goes straight into the
    # device queue, and any scheduler becomes FIFO (a test shows it).
    bql: Bql = field(default_factory=Bql)
    # xdpq's own link rate (none by default): the scheduler releases no more than it
    # allows, whatever the device's rate.
    shaper: Shaper = field(default_factory=Shaper)
    # An event log of the run, when given a list: ("arrive", t, item), ("step", t, outcome)
    # for each dequeue, ("blocked", t) when the BQL limit stops the scheduler, ("held", t,
    # when) when the link rate does, and ("complete", t, size, limit, inflight) when a
    # frame's bytes leave the device. The differential tests replay it into the kernel.
    trace: list[tuple[object, ...]] | None = None
    # Frames the scheduler does not claim: through the bypass FIFO (xdpq.sim.bypass).
    unclaimed: Unclaimed = Unclaimed.FORWARD
    # The slot pool (kern/xdpq_defs.h XDPQ_POOL_SLOTS): a packet the scheduler holds
    # takes a slot; an arrival that finds none free is drop_no_slot.
    pool: int = POOL_SLOTS
    # Run in C (xdpq.sim.fast) to the same records; where it cannot, it says why on
    # stderr and this loop runs. The scheduler serves one run either way.
    fast: bool = False

    def run(self, arrivals: Iterable[Arrival], until: int | None = None,
            closed: ClosedLoop | None = None) -> Result:
        if self.fast:
            from xdpq.sim.fast import run_fast

            result, arrivals = run_fast(self, arrivals, until, closed)
            if result is not None:
                return result
        # What the program reads as link_rate (the fast path sets its own).
        self.scheduler.link_rate = self.shaper.rate
        datapath = Bypassed(self.scheduler, self.unclaimed)
        # ECN marks (mark ce), which a scheduler that never marks need not keep.
        marked: list[tuple[int, str]] = getattr(self.scheduler, "marked", [])
        admit, step = datapath.admit, datapath.step
        trace = self.trace
        enq_ok = Enq.OK
        deq_ok, deq_empty, deq_drop = Deq.OK, Deq.EMPTY, Deq.DROP
        rate, prop = self.rate_bps, self.propagation_ns
        end = _NEVER - 1 if until is None else until
        records: list[Record] = []
        counters: Counter[str] = Counter()
        enqueued = dequeued = drop_aqm = 0
        # BQL (xdpq.sim.link): unlimited when off; the limit moves only when adaptive.
        unlimited = self.bql.mode is BqlMode.OFF
        adaptive = self.bql.mode is BqlMode.ADAPTIVE
        limit, inflight, peak, period_start = self.bql.limit, 0, 0, 0
        blocked = hit = False
        # Frames into the device and complete, and at the last completion whether the
        # limit held the scheduler and how many had gone in (the starvation test).
        sent = completed = sent_then = 0
        blocked_then = False
        # The link rate (kern/shaper.h): the release clock, its fraction of a ns (in
        # 1/shape ns), and what the queues hold against the byte limit.
        shape, burst, overhead = self.shaper.rate, self.shaper.burst_ns, self.shaper.overhead
        byte_limit = self.shaper.limit or _NEVER
        pool = self.pool
        t_release = t_rem = 0
        queued = queued_bytes = 0
        # The device: the frame on the wire (done at t_link) and those waiting behind it.
        device: deque[tuple[int, int]] = deque()
        t_link, wire_item, wire_size = _NEVER, 0, 0
        # The scheduler: busy from an arrival to an idle one until it finds nothing.
        busy = False
        t_wake = _NEVER
        seq = seq_link = seq_wake = 0
        now = last = 0
        item = -1  # the last arrival's number: its record's index
        # Closed-loop sources: their next event, their packets in the datapath (item ->
        # what to tell them on delivery), and which of those the scheduler marked CE.
        t_closed = closed.next_time() if closed is not None else _NEVER
        own: dict[int, Any] = {}
        ce: set[int] = set()
        n_marked = 0
        marking = bool(getattr(self.scheduler, "marks", None))
        # The open-loop arrivals; the last is never taken (it is after any ``until``).
        take = chain(arrivals, (_LAST,)).__next__
        nxt = take()
        t_open = nxt.time

        while True:
            t_arr = t_open if t_open <= t_closed else t_closed
            # The events before it (an arrival goes first at equal times).
            while t_link < t_arr or t_wake < t_arr:
                if t_link < t_wake or (t_link == t_wake and seq_link < seq_wake):
                    if t_link > end:
                        break
                    # The frame on the wire is done: retire its bytes, deliver it, start the next.
                    now = t_link
                    size = wire_size
                    inflight -= size
                    completed += 1
                    if adaptive:
                        lim = limit
                        if (inflight <= 0 and blocked) or (blocked_then and completed >= sent_then):
                            lim += size
                        blocked_then, sent_then = blocked and inflight > 0, sent
                        if now - period_start > BQL_HOLD_NS:
                            if not hit and peak and peak < lim:
                                lim = peak
                            hit, peak, period_start = False, 0, now
                        limit = BQL_MIN if lim < BQL_MIN else BQL_MAX if lim > BQL_MAX else lim
                    if trace is not None:
                        trace.append(("complete", now, size, limit, inflight))
                    t = now + prop
                    if t <= end:
                        rec = records[wire_item]
                        rec.departed, rec.outcome = t, "delivered"
                        last = t
                        if own and wire_item in own:
                            t_closed = closed.deliver(t, own.pop(wire_item),  # type: ignore[union-attr]
                                                      wire_item in ce)
                            if t_closed < t_arr:
                                t_arr = t_closed
                    if device:
                        wire_item, wire_size = device.popleft()
                        t_link = now - (-wire_size * NS_BITS // rate)
                        seq_link, seq = seq, seq + 1
                    else:
                        t_link = _NEVER
                    if not (blocked and (unlimited or inflight < limit)):
                        continue
                    blocked = False
                else:
                    if t_wake > end:
                        break
                    now, t_wake = t_wake, _NEVER
                # The scheduler runs: into the device while the limit and the rate allow.
                while True:
                    if not unlimited and inflight >= limit:
                        blocked = hit = True
                        if trace is not None:
                            trace.append(("blocked", now))
                        break
                    if shape and t_release > now + burst:
                        if not queued:  # nothing to wait for: idle
                            if trace is not None:
                                trace.append(("step", now, deq_empty))
                            busy = False
                            break
                        # Run again once half the burst has built up.
                        t_wake, seq_wake, seq = t_release - burst // 2, seq, seq + 1
                        if trace is not None:
                            trace.append(("held", now, t_wake))
                        break
                    outcome, slot, _, size, when = step(now)
                    if trace is not None:
                        trace.append(("step", now, outcome))
                    if outcome is deq_ok:
                        dequeued += 1
                        queued -= 1
                        queued_bytes -= size
                        if marking and len(marked) != n_marked:  # this one: CE
                            n_marked += 1
                            if slot in own:
                                ce.add(slot)
                        if shape:
                            if t_release < now:
                                t_release, t_rem = now, 0
                            bits = max(size + overhead, 0) * NS_BITS + t_rem
                            t_release += bits // shape
                            t_rem = bits % shape
                        inflight += size
                        sent += 1
                        if inflight > peak:
                            peak = inflight
                        if t_link == _NEVER:
                            wire_item, wire_size = slot, size
                            t_link = now - (-size * NS_BITS // rate)
                            seq_link, seq = seq, seq + 1
                        else:
                            device.append((slot, size))
                    elif outcome is deq_drop:
                        drop_aqm += 1
                        queued -= 1
                        queued_bytes -= size
                        records[slot].outcome = "drop_aqm"
                        own.pop(slot, None)
                    elif outcome is deq_empty:
                        busy = False
                        break
                    else:  # LATER: run again at the eligibility time
                        t_wake = when if when > now else now
                        seq_wake, seq = seq, seq + 1
                        break
            if t_arr > end:
                break
            now = t_arr
            if t_open <= t_closed:
                pkt = nxt.packet
                nxt = take()
                t_open = nxt.time
            else:
                got = closed.pop()  # type: ignore[union-attr]
                t_closed = closed.next_time()  # type: ignore[union-attr]
                if got is None:
                    continue
                pkt = got[0]
                own[item + 1] = got[1]  # (left behind if it is dropped on arrival)
            item += 1
            rec = Record(pkt.flow, pkt.len, now)
            records.append(rec)
            if trace is not None:
                trace.append(("arrive", now, item))
            # What the datapath cannot hold never reaches the program (kern/datapath.h).
            if queued_bytes + pkt.len > byte_limit:
                counters["drop_overlimit"] += 1
                rec.outcome = "drop_overlimit"
                continue
            if queued >= pool:
                counters["drop_no_slot"] += 1
                rec.outcome = "drop_no_slot"
                continue
            res = admit(pkt, item, now)
            if res is enq_ok:
                enqueued += 1
            elif isinstance(res, Claim):  # not for the scheduler, or dropped by it
                counters[res.value] += 1
                rec.outcome = res.value
                continue
            elif isinstance(res, Bypass):  # not for the scheduler: forwarded first
                counters[res.value] += 1
                if res is Bypass.FULL:
                    rec.outcome = res.value
                    continue
                queued += 1  # the kernel's backlog counts bypassed frames too
                queued_bytes += pkt.len
                if t_wake > now:  # as the kernel's ingress re-arms its timer for now
                    busy = True
                    t_wake, seq_wake, seq = now, seq, seq + 1
                continue
            else:
                names = enqueue_counters(res)
                counters.update(names)
                if names[-1] != "enqueued":
                    rec.outcome = names[-1]
                    continue
                if res.pushed_out:  # a queued packet dropped for this one
                    _, gone, gone_size = self.scheduler.tree.evicted
                    records[gone].outcome = "drop_pushout"
                    queued -= 1
                    queued_bytes -= gone_size
            queued += 1
            queued_bytes += pkt.len
            if not busy:
                busy = True
                t_wake, seq_wake, seq = now, seq, seq + 1
        for name, n in (("enqueued", enqueued), ("dequeued", dequeued), ("drop_aqm", drop_aqm),
                        ("mark_ce", len(marked))):
            if n:
                counters[name] += n
        for rec in records:
            if not rec.outcome:
                rec.outcome = "unfinished"  # still queued, or not yet delivered, at the end
        duration = max(now, last) if until is None else max(now, last, until)
        return Result(records, counters, duration, limit)
