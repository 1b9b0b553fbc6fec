"""The simulator's datapath around a scheduler: frames the program does not claim cross
through the bypass FIFO, first, as in the kernel (whose twin tests are
tests/test_sim_vs_kernel.py and tests/test_twins.py)."""

from __future__ import annotations

from dataclasses import replace

from xdpq.codegen.python import load_scheduler
from xdpq.ir.link import Bql, BqlMode
from xdpq.ir.outcomes import BYPASS_CAPACITY, Unclaimed
from xdpq.library import library_path
from xdpq.sim import workload as wl
from xdpq.sim.run import Arrival, FlowPacket, Simulation

RATE = 10**9


def arp(flow: int) -> FlowPacket:
    """A frame no scheduler claims: not IP."""
    return replace(wl.flow_packet(flow, 60), ip_ver=0, eth_proto=0x0806)


def test_an_unclaimed_frame_goes_ahead_of_a_paced_queue() -> None:
    tbf = load_scheduler(library_path("tbf"), {"rate": 1000, "burst": 1500})
    arrivals = [Arrival(0, wl.flow_packet(0, 1000)) for _ in range(3)]
    arrivals.append(Arrival(1_000_000, arp(1)))
    res = Simulation(tbf, RATE).run(arrivals)
    first, second, _, unclaimed = res.records
    assert res.counters["forward_unclaimed"] == 1 and unclaimed.outcome == "delivered"
    # It left at once, not when the paced queue's next frame did (seconds later).
    assert first.departed < unclaimed.departed < 2_000_000 < second.departed


def test_unclaimed_stack_passes_instead() -> None:
    fifo = load_scheduler(library_path("fifo"))
    res = Simulation(fifo, RATE, unclaimed=Unclaimed.STACK).run([Arrival(0, arp(0))])
    assert res.counters == {"pass_unclaimed": 1}
    assert res.records[0].outcome == "pass_unclaimed"


def test_a_full_bypass_fifo_drops() -> None:
    fifo = load_scheduler(library_path("fifo"))
    n = BYPASS_CAPACITY + 5
    sim = Simulation(fifo, RATE, bql=Bql(BqlMode.FIXED, 0))  # held: nothing leaves
    res = sim.run([Arrival(0, arp(i)) for i in range(n)])
    assert res.counters["forward_unclaimed"] == BYPASS_CAPACITY
    assert res.counters["drop_bypass_full"] == 5
    assert [r.outcome for r in res.records[-5:]] == ["drop_bypass_full"] * 5
