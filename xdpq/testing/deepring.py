"""A scheduler in front of a NIC's deep TX ring: what decides the order.

A bulk low-priority flow offers more than the NIC's line rate and a sparse
high-priority flow crosses it, through ``prio`` deployed onto the bed's NIC
stand-in (:class:`xdpq.net.tapnic.TapNic`: a ring ``ring`` frames deep,
drained at its line rate). Without a limit of xdpq's own the ring fills and
the high-priority packets wait behind all of it; with ``--rate`` a little
below the line rate the backlog stays in xdpq, where priority applies. BQL
needs completions, which a NIC without a completion source does not give;
the stand-in can report them (as a driver with BQL support would), which
shows what BQL would do there.

Shared by ``tests/test_tapnic.py`` and ``bench/bottleneck.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from xdpq.errors import XdpqError
from xdpq.ir.link import Bql, BqlMode, Shaper
from xdpq.library import compile_library
from xdpq.net.tapnic import WIRE_OVERHEAD, TapNic
from xdpq.net.testbed import DUT, TestBed
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.runtime.deploy import Deployment
from xdpq.sim.metrics import percentile

BULK, SPARSE = 1500, 200  # frame sizes
SPARSE_EVERY = 50  # one sparse packet per this many packets sent
SKIP = 0.25  # the first and last quarter are not steady


@dataclass(frozen=True, slots=True)
class DeepRing:
    how: str  # "off", "fixed:N", "adaptive", "rate R"
    refused: str | None  # the deployment would not come up: why
    high_p99_ns: int = 0  # the sparse flow's time from the sender to the wire
    high_p50_ns: int = 0
    low_p50_ns: int = 0
    wire_bps: float = 0.0  # what left the NIC, counted on the wire (overhead included)
    ring_drops: int = 0  # frames the full ring refused (drop_xmit)


def run(bed: TestBed, nic: TapNic, how: str, seconds: float, load: float = 1.2) -> DeepRing:
    """``how``: the BQL setting (``off``, ``fixed:N``, ``adaptive``) or ``rate R`` (a link
    rate of R bit/s, counted on the wire as the NIC counts)."""
    compiled = compile_library("prio")
    if how.startswith("rate "):
        bql, shaper = None, Shaper(int(how.split()[1]), overhead=WIRE_OVERHEAD)
    else:
        bql, shaper = Bql.parse(how), Shaper()
    flows = [Flow(size=BULK, sport=1, weight=SPARSE_EVERY - 1), Flow(size=SPARSE, dscp=46,
                                                                      sport=2)]
    completions = bql is not None and bql.mode != BqlMode.OFF
    try:
        with bed.enter(DUT):
            d = Deployment(compiled.obj_path, "in0", nic.name, bql=bql, shaper=shaper,
                           program=compiled.program, external_completions=completions)
    except XdpqError as exc:
        return DeepRing(how, str(exc))
    before = len(nic.departures())
    if completions:  # the stand-in reports its departures, as a driver's TX completions
        nic.report_completions(d.obj)
    try:
        with TrafficGen(bed, flows) as gen:
            per_round = (SPARSE_EVERY - 1) * (BULK + WIRE_OVERHEAD) + SPARSE + WIRE_OVERHEAD
            pps = load * nic.rate_bps / 8 / per_round * SPARSE_EVERY
            gen.send(count=int(pps * seconds), rate_pps=pps, timeout_s=4 * seconds + 10)
        ring_s = nic.ring * (BULK + WIRE_OVERHEAD) * 8 / nic.rate_bps
        time.sleep(ring_s + 0.2)  # what is queued drains
        ring_drops = d.stats().counters["drop_xmit"].packets
    finally:
        nic.report_completions(None)
        d.close()
    out = [x for x in nic.departures()[before:] if x.flow >= 0]
    if len(out) < 2:
        return DeepRing(how, None)
    first, last = out[0].departed, out[-1].departed
    lo, hi = first + int((last - first) * SKIP), last - int((last - first) * SKIP)
    steady = [x for x in out if lo <= x.departed < hi]
    high = sorted(x.departed - x.sent for x in steady if x.flow == 1)
    low = sorted(x.departed - x.sent for x in steady if x.flow == 0)
    wire = sum(x.len + WIRE_OVERHEAD for x in steady) * 8 * 1e9 / max(hi - lo, 1)
    return DeepRing(how, None, percentile(high, 99), percentile(high, 50), percentile(low, 50),
                    wire, ring_drops)
