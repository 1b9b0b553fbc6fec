"""Continuous over-subscription, in the kernel and in the simulator, side by side.

Flows offered more than a link rate in total, for seconds: the queue builds in
the scheduler, which alone decides who gets what. In the kernel, the test
bed's generator sends the flows round robin (one packet each in turn) at the
offered rate through a deployment with ``--rate``; the receiver logs what
arrives. In the simulator, the same flows arrive in the same pattern at the
same rate into the same program, behind the same shaper. Shares are byte
shares of what arrived over the steady window: the middle of the run, once
the queues stand and before the sender stops.

Shared by ``tests/test_bottleneck.py`` and ``bench/bottleneck.py``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from xdpq.codegen.build import Compiled
from xdpq.codegen.python import scheduler_factory
from xdpq.ir.link import Bql, BqlMode, Shaper
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import DUT, TestBed
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.runtime.deploy import Deployment
from xdpq.sim import workload as wl
from xdpq.sim.run import Simulation

NS = 1_000_000_000
SKIP = 0.25  # the first and last quarter of the run are not steady


@dataclass(frozen=True, slots=True)
class Offered:
    """Flows of ``size``-byte frames in these DSCP classes, offered ``load`` times the
    link rate in total (round robin, one packet each in turn)."""

    dscps: tuple[int, ...]
    load: float = 1.5
    size: int = 1000

    def pps(self, rate: int) -> float:
        return self.load * rate / (8 * self.size)


@dataclass(frozen=True, slots=True)
class Shares:
    shares: tuple[float, ...]  # of the bytes that arrived in the steady window
    rate_bps: float  # what arrived in it, per second
    drops: dict[str, int]


def _shares(per_flow: Sequence[int], span_ns: int) -> tuple[tuple[float, ...], float]:
    total = sum(per_flow)
    return (tuple(b / total if total else 0.0 for b in per_flow),
            total * 8 * NS / span_ns if span_ns else 0.0)


def kernel(bed: TestBed, compiled: Compiled, params: dict[str, object], rate: int,
           offered: Offered, seconds: float) -> Shares:
    """The flows through a deployment of ``compiled`` with ``--rate rate``."""
    flows = [Flow(size=offered.size, dscp=d, sport=30000 + i)
             for i, d in enumerate(offered.dscps)]
    with Receiver(bed) as rcv, TrafficGen(bed, flows) as gen:
        with bed.enter(DUT):
            d = Deployment(compiled.obj_path, "in0", "out0", program=compiled.program,
                           params=params, shaper=Shaper(rate))  # type: ignore[arg-type]
        try:
            pps = offered.pps(rate)
            gen.send(count=int(pps * seconds), rate_pps=pps, timeout_s=4 * seconds + 10)
            time.sleep(0.05)
            arrivals = rcv.arrivals()
            drops = {k: c.packets for k, c in d.stats().counters.items()
                     if k.startswith("drop_") and c.packets}
        finally:
            d.close()
    if not arrivals:
        return Shares(tuple(0.0 for _ in flows), 0.0, drops)
    first, last = min(a.at_ns for a in arrivals), max(a.at_ns for a in arrivals)
    lo, hi = first + int((last - first) * SKIP), last - int((last - first) * SKIP)
    per_flow = [0] * len(flows)
    for a in arrivals:
        if lo <= a.at_ns < hi:
            per_flow[a.flow] += a.len
    shares, got = _shares(per_flow, hi - lo)
    return Shares(shares, got, drops)


def simulated(compiled: Compiled, params: dict[str, object], rate: int, offered: Offered,
              seconds: float) -> Shares:
    """The same flows through the simulator: the program behind the same shaper, on an
    egress as fast as a veth (10 Gbit/s), arriving round robin at the offered rate."""
    pps, n = offered.pps(rate), len(offered.dscps)
    count = int(pps * seconds)
    gap = NS / pps
    streams = [wl.constant(pps / n, offered.size, (count - i + n - 1) // n, flow=i, dscp=d,
                           start_ns=int(i * gap))
               for i, d in enumerate(offered.dscps)]
    sched = scheduler_factory(compiled.program)(params)  # type: ignore[arg-type]
    res = Simulation(sched, 10 * 10**9, bql=Bql(BqlMode.OFF), shaper=Shaper(rate)).run(
        wl.merge(*streams))
    delivered = [r for r in res.records if r.outcome == "delivered"]
    first, last = min(r.departed for r in delivered), max(r.departed for r in delivered)
    lo, hi = first + int((last - first) * SKIP), last - int((last - first) * SKIP)
    per_flow = [0] * n
    for r in delivered:
        if lo <= r.departed < hi:
            per_flow[r.flow] += r.size
    shares, got = _shares(per_flow, hi - lo)
    return Shares(shares, got, {k: v for k, v in res.counters.items() if k.startswith("drop_")})


def weighted_fair(weights: Sequence[float], offered: Sequence[float]) -> list[float]:
    """Weighted max-min fair shares of a link (1.0) among flows offering ``offered``
    (fractions of it): a flow gets at most what it offers, the rest is split by weight."""
    share = [0.0] * len(weights)
    left, active = 1.0, set(range(len(weights)))
    while active and left > 1e-12:
        total = sum(weights[i] for i in active)
        sated = {i for i in active if offered[i] - share[i] <= left * weights[i] / total}
        if not sated:
            for i in active:
                share[i] += left * weights[i] / total
            break
        for i in sated:
            left -= offered[i] - share[i]
            share[i] = offered[i]
        active -= sated
    return share


@dataclass(frozen=True, slots=True)
class Bufferbloat:
    rtt_ms: list[float]  # ping's round trips while TCP ran, the first second left out
    pings: int  # pings sent
    goodput_bps: float  # what TCP delivered, per second
    retransmits: int
    drops: dict[str, int]  # of the shaped direction


def tcp_under_load(bed: TestBed, compiled: Compiled, rate: int, seconds: float,
                   streams: int = 4, congestion: str = "cubic") -> Bufferbloat:
    """The bufferbloat test (flent's RRUL, reduced): ``streams`` TCP flows from the sender
    to the receiver and a ping every 50 ms beside them, through ``compiled`` with
    ``--rate rate``; the way back (ACKs, ping replies) through an unshaped FIFO."""
    from xdpq.library import compile_library
    from xdpq.testing.hosts import goodput_bps, iperf, iperf_server, rtts, start_ping

    back = compile_library("fifo")
    with bed.enter(DUT):
        fwd = Deployment(compiled.obj_path, "in0", "out0", program=compiled.program,
                         shaper=Shaper(rate))
        try:
            rev = Deployment(back.obj_path, "out0", "in0", program=back.program)
        except BaseException:
            fwd.close()
            raise
    interval = 0.05
    try:
        with iperf_server(bed):
            pinger = start_ping(bed, int(seconds / interval), interval)
            report = iperf(bed, seconds, streams, congestion)
            times, sent = rtts(pinger, timeout=seconds + 30)
        drops = {k: c.packets for k, c in fwd.stats().counters.items()
                 if k.startswith("drop_") and c.packets}
    finally:
        rev.close()
        fwd.close()
    skip = int(1 / interval)
    return Bufferbloat(times[skip:], sent, goodput_bps(report),
                       int(report["end"]["sum_sent"].get("retransmits", 0)), drops)
