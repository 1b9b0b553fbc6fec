"""The NIC stand-in: a tap with a deep ring, drained at line rate, behind a deployment.

With no limit of xdpq's own (BQL off, as on a NIC without a completion
source) the ring fills, and the frames' time from the generator to the wire
is the ring's depth at line rate, whatever the scheduler: its order is lost
in the ring. The frames the full ring refused are counted as ``drop_xmit``.
"""

from __future__ import annotations

import statistics
import time

import pytest

from xdpq.ir.link import Bql
from xdpq.library import compile_library
from xdpq.net.tapnic import WIRE_OVERHEAD, TapNic
from xdpq.net.testbed import DUT, TestBed
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.runtime.deploy import Deployment

pytestmark = pytest.mark.kernel

RATE = 50_000_000
SIZE = 1000
RING = 200


def test_a_deep_ring_drains_at_line_rate_and_decides_the_order(bed: TestBed) -> None:
    flows = [Flow(size=SIZE, sport=1), Flow(size=SIZE, sport=2, dscp=46)]  # low, high
    c = compile_library("prio")
    with TapNic(bed, rate_bps=RATE, ring=RING) as nic, TrafficGen(bed, flows) as gen:
        with bed.enter(DUT):
            d = Deployment(c.obj_path, "in0", nic.name, bql=Bql.parse("off"), program=c.program)
        try:
            pps = 1.5 * RATE / 8 / SIZE  # offered: 150 % of the line rate
            sent = gen.send(count=int(pps), rate_pps=pps)
            time.sleep(RING * (SIZE + WIRE_OVERHEAD) * 8 / RATE + 0.2)  # the ring drains
            refused = d.stats().counters["drop_xmit"].packets
        finally:
            d.close()
        out = nic.departures()
    assert len(out) + refused == sent
    assert refused > 0  # the ring was full: it refused what the wire could not take
    # The wire's rate, over the middle half of the departures (the ring full throughout).
    mid = out[len(out) // 4: 3 * len(out) // 4]
    wire = sum(x.len + WIRE_OVERHEAD for x in mid) * 8 * 1e9 / (mid[-1].departed - mid[0].departed)
    assert wire == pytest.approx(RATE, rel=0.05)
    # High priority waits behind the whole ring, as low priority does: FIFO decides.
    ring_time = RING * (SIZE + WIRE_OVERHEAD) * 8 * 1e9 / RATE
    high = statistics.median(x.departed - x.sent for x in mid if x.flow == 1)
    low = statistics.median(x.departed - x.sent for x in mid if x.flow == 0)
    assert high > 0.5 * ring_time
    assert high == pytest.approx(low, rel=0.2)
