"""TCP under load through a deployment: the bufferbloat test, as flent's RRUL runs it.

Continuous over-subscription with open-loop flows, beside the simulator, is
``xdpq.demo.continuous``. Shared by ``tests/test_bottleneck.py`` and
``bench/bottleneck.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdpq.codegen.build import Compiled
from xdpq.ir.link import Shaper
from xdpq.library import compile_library
from xdpq.net.testbed import DUT, TestBed
from xdpq.runtime.deploy import Deployment
from xdpq.testing.hosts import goodput_bps, iperf, iperf_server, rtts, start_ping


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
