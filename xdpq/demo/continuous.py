"""Continuous over-subscription, in the kernel and in the simulator, side by side.

Flows offered more than a link rate in total, for seconds: the queue builds in
the scheduler, which alone decides who gets what. In the kernel, the test
bed's generator sends the flows round robin (one packet each in turn) at the
offered rate through a deployment with ``--rate``; the receiver logs what
arrives, when, and how long after it was sent. In the simulator, the same
flows arrive in the same pattern at the same rate into the same program,
behind the same shaper, on an egress as fast as a veth. Shares are byte
shares of what arrived over the steady window (the middle half of the run,
once the queues stand and before the sender stops), latencies those of the
packets that arrived in it.

This is ``xdpq demo``'s default; ``tests/test_bottleneck.py`` and
``bench/bottleneck.py`` use it too.
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
from xdpq.sim.metrics import percentile
from xdpq.sim.run import Simulation

NS = 1_000_000_000
VETH_BPS = 10 * 10**9  # the simulated egress: as fast as a veth, whatever the rate
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
class Steady:
    """What arrived in the steady window, per flow."""

    shares: tuple[float, ...]  # of the bytes
    latency_p50_ns: tuple[int, ...]  # from sending to arrival
    latency_p99_ns: tuple[int, ...]
    sent: tuple[int, ...]
    delivered: tuple[int, ...]  # in the whole run
    rate_bps: float  # all flows together, in the window
    window: int  # packets that arrived in it
    drops: dict[str, int]  # the scheduler's and the datapath's, over the run


def _steady(n: int, arrived: Sequence[tuple[int, int, int, int]], sent: Sequence[int],
            drops: dict[str, int]) -> Steady:
    """``arrived``: (flow, bytes, arrival time, latency) of each packet that arrived."""
    if not arrived:
        return Steady(tuple([0.0] * n), (0,) * n, (0,) * n, tuple(sent), (0,) * n, 0.0, 0,
                      drops)
    first, last = min(a[2] for a in arrived), max(a[2] for a in arrived)
    lo, hi = first + int((last - first) * SKIP), last - int((last - first) * SKIP)
    size, lat = [0] * n, [[] for _ in range(n)]
    delivered = [0] * n
    for flow, nbytes, at, latency in arrived:
        delivered[flow] += 1
        if lo <= at < hi:
            size[flow] += nbytes
            lat[flow].append(latency)
    total = sum(size)
    for x in lat:
        x.sort()
    return Steady(tuple(s / total if total else 0.0 for s in size),
                  tuple(percentile(x, 50) for x in lat), tuple(percentile(x, 99) for x in lat),
                  tuple(sent), tuple(delivered), total * 8 * NS / (hi - lo) if hi > lo else 0.0,
                  sum(len(x) for x in lat), drops)


def kernel(bed: TestBed, compiled: Compiled, params: dict[str, object], rate: int,
           offered: Offered, seconds: float) -> Steady:
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
            sent = tuple(gen.sent())
            drops = {k: c.packets for k, c in d.stats().counters.items()
                     if k.startswith("drop_") and c.packets}
        finally:
            d.close()
    return _steady(len(flows), [(a.flow, a.len, a.at_ns, a.latency_ns) for a in arrivals],
                   sent, drops)


def simulated(compiled: Compiled, params: dict[str, object], rate: int, offered: Offered,
              seconds: float) -> Steady:
    """The same flows through the simulator: the program behind the same shaper, on an
    egress as fast as a veth, arriving round robin at the offered rate."""
    pps, n = offered.pps(rate), len(offered.dscps)
    count = int(pps * seconds)
    gap = NS / pps
    per_flow = [(count - i + n - 1) // n for i in range(n)]
    streams = [wl.constant(pps / n, offered.size, per_flow[i], flow=i, dscp=d,
                           start_ns=int(i * gap))
               for i, d in enumerate(offered.dscps)]
    sched = scheduler_factory(compiled.program)(params)  # type: ignore[arg-type]
    res = Simulation(sched, VETH_BPS, bql=Bql(BqlMode.OFF), shaper=Shaper(rate)).run(
        wl.merge(*streams))
    arrived = [(r.flow, r.size, r.departed, r.departed - r.arrived)
               for r in res.records if r.outcome == "delivered"]
    return _steady(n, arrived, per_flow,
                   {k: v for k, v in res.counters.items() if k.startswith("drop_")})


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
