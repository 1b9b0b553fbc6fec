"""TCP under load through a deployment: the bufferbloat test, as flent's RRUL runs it;
and the same test through the kernel's own path (a bridge and ``tc qdisc tbf``).

Continuous over-subscription with open-loop flows, beside the simulator, is
``xdpq.demo.continuous``. Shared by ``tests/test_bottleneck.py``,
``bench/bottleneck.py`` and ``bench/datapath.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xdpq.codegen.build import Compiled
from xdpq.ir.link import Shaper
from xdpq.library import compile_library
from xdpq.net.testbed import DUT, TestBed
from xdpq.runtime.deploy import Deployment
from xdpq.testing.hosts import goodput_bps, iperf, iperf_server, rtts, start_ping
from xdpq.testing.rates import LATENCY_NS, bridged, tbf


@dataclass(frozen=True, slots=True)
class Bufferbloat:
    rtt_ms: list[float]  # ping's round trips while TCP ran, the first second left out
    pings: int  # pings sent
    goodput_bps: float  # what TCP delivered, per second
    retransmits: int
    drops: dict[str, int]  # of the shaped direction


def tcp_under_load(bed: TestBed, compiled: Compiled, rate: int, seconds: float,
                   streams: int = 4, congestion: str = "cubic",
                   shaper: Shaper | None = None) -> Bufferbloat:
    """The bufferbloat test (flent's RRUL, reduced): ``streams`` TCP flows from the sender
    to the receiver and a ping every 50 ms beside them, through ``compiled`` with
    ``--rate rate`` (or ``shaper``); the way back (ACKs, ping replies) through an
    unshaped FIFO."""
    back = compile_library("fifo")
    with bed.enter(DUT):
        fwd = Deployment(compiled.obj_path, "in0", "out0", program=compiled.program,
                         shaper=shaper or Shaper(rate))
        try:
            rev = Deployment(back.obj_path, "out0", "in0", program=back.program)
        except BaseException:
            fwd.close()
            raise
    try:
        times, sent, report = _ping_beside_tcp(bed, seconds, streams, congestion)
        drops = {k: c.packets for k, c in fwd.stats().counters.items()
                 if k.startswith("drop_") and c.packets}
    finally:
        rev.close()
        fwd.close()
    return Bufferbloat(times, sent, goodput_bps(report),
                       int(report["end"]["sum_sent"].get("retransmits", 0)), drops)


def tcp_under_tbf(bed: TestBed, rate: int, seconds: float, streams: int = 4,
                  congestion: str = "cubic", latency_ns: int = LATENCY_NS) -> Bufferbloat:
    """The same test through the kernel's own path: the DUT bridging in0 and out0, with
    ``tc qdisc tbf`` at ``rate`` on out0 (the way back unshaped)."""
    with bridged(bed), tbf(bed, rate, latency_ns):
        times, sent, report = _ping_beside_tcp(bed, seconds, streams, congestion)
    return Bufferbloat(times, sent, goodput_bps(report),
                       int(report["end"]["sum_sent"].get("retransmits", 0)), {})


def _ping_beside_tcp(bed: TestBed, seconds: float, streams: int, congestion: str
                     ) -> tuple[list[float], int, dict[str, Any]]:
    """A ping every 50 ms while iperf3 runs: the round trips (the first second left
    out), the pings sent, iperf3's report."""
    interval = 0.05
    with iperf_server(bed):
        pinger = start_ping(bed, int(seconds / interval), interval)
        report = iperf(bed, seconds, streams, congestion)
        times, sent = rtts(pinger, timeout=seconds + 30)
    return times[int(1 / interval):], sent, report
