"""Python twins of the datapath's enums, BQL rule and link rate, held to the kernel's own.

The enums and BQL defaults are read from the object's BTF and global data;
the adaptive BQL rule and the link rate (kern/shaper.h) are held to the
kernel's by replaying a simulation's event log (arrivals, dequeues, stops on
the BQL limit and on the rate, completions) into the kernel program on a
virtual clock: after every completion both must have the same limit and
bytes in flight, every dequeue the same outcome, every stop on the rate the
same next release time, and every arrival the same fate.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xdpq.codegen.build import compile_source
from xdpq.codegen.python import scheduler_factory
from xdpq.ir.layout import POOL_SLOTS
from xdpq.ir.link import BQL_HOLD_NS, BQL_MAX, BQL_MIN, Bql, BqlMode, Hold, Shaper
from xdpq.ir.outcomes import BYPASS_CAPACITY, Deq
from xdpq.library import compile_library
from xdpq.packet import parse
from xdpq.queues import Enq
from xdpq.sim.run import Arrival, FlowPacket, Simulation
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.replay import replay as replay_log
from xdpq.testing.stepper import Stepper

pytestmark = pytest.mark.kernel


def _library(name: str) -> Iterator[Stepper]:
    """A library scheduler in the kernel, on a virtual clock, with its program beside."""
    compiled = compile_library(name)
    with Stepper(compiled.obj_path) as kernel:
        kernel.program = compiled.program  # type: ignore[attr-defined]
        yield kernel


@pytest.fixture(scope="module")
def stfq() -> Iterator[Stepper]:
    yield from _library("stfq")


@pytest.fixture(scope="module")
def pacing() -> Iterator[Stepper]:
    """Eligibility times: each flow's packets at most 100 Mbit/s apart."""
    yield from _library("pacing")


def _members(e: type[IntEnum], prefix: str) -> dict[str, int]:
    return {prefix + m.name: m.value for m in e}


@pytest.mark.parametrize(("c_name", "twin", "prefix"), [
    ("xdpq_deq", Deq, "XDPQ_DEQ_"), ("xdpq_enq", Enq, "XDPQ_ENQ_"),
    ("xdpq_bql_mode", BqlMode, "XDPQ_BQL_"), ("xdpq_hold", Hold, "XDPQ_HOLD_")])
def test_enums_are_the_kernels(stfq: Stepper, c_name: str, twin: type, prefix: str) -> None:
    if twin is Deq:  # a plain Enum: its values are the kernel's numbers
        assert stfq.obj.enum(c_name) == {prefix + m.name: m.value for m in Deq}
    else:
        assert stfq.obj.enum(c_name) == _members(twin, prefix)


def test_bql_defaults_are_the_kernels() -> None:
    data = Stepper(compile_library("fifo").obj_path)
    try:
        d = data.obj.section(".data")
        assert (d["xdpq_bql_min"], d["xdpq_bql_max"], d["xdpq_bql_hold_ns"]) == (
            BQL_MIN, BQL_MAX, BQL_HOLD_NS)
        assert d["xdpq_bql_limit"] == Bql().limit
    finally:
        data.close()


def test_bypass_capacity_is_the_kernels(stfq: Stepper) -> None:
    assert stfq.obj.map("xdpq_bypass").max_entries == BYPASS_CAPACITY


def test_the_slot_pool_is_the_kernels(stfq: Stepper) -> None:
    assert stfq.obj.map("xdpq_slots").max_entries == POOL_SLOTS == Simulation.pool


FLOWS = [FrameSpec(0, sport=1000, dscp=0), FrameSpec(0, sport=1001, dscp=8),
         FrameSpec(0, sport=1002, dscp=16)]
ARP = len(FLOWS)  # a further "flow" of frames the scheduler does not claim: bypassed

bursts = st.lists(
    st.tuples(st.integers(0, 600_000),  # gap before the burst, ns: some beyond the hold time
              st.integers(1, 12),  # packets in the burst
              st.integers(0, ARP), st.integers(64, 1514)),
    min_size=1, max_size=25)


def burst_frame(flow: int, size: int) -> bytes:
    if flow == ARP:
        return frame(FrameSpec(size))[:12] + b"\x08\x06" + bytes(size - 14)
    return frame(FrameSpec(size, sport=FLOWS[flow].sport, dscp=FLOWS[flow].dscp))


def replay(kernel: Stepper, trace: list[tuple[int, int, int, int]], rate: int,
           start: int, bql_mode: BqlMode = BqlMode.ADAPTIVE,
           shaper: Shaper | None = None) -> list[tuple[object, ...]]:
    """Simulate bursts (gap before, packets, flow, size) under BQL (adaptive unless
    told) and a link rate (none unless told), replay the run's event log into the
    kernel, and check them against each other; the log."""
    frames, arrivals, t = [], [], 0
    for gap, count, flow, size in trace:
        t += gap
        raw = burst_frame(flow, size)
        for _ in range(count):
            frames.append(raw)
            arrivals.append(Arrival(t, FlowPacket.of(parse(raw), flow)))
    log: list[tuple[object, ...]] = []
    bql, shaper = Bql(bql_mode, start), shaper or Shaper()
    result = Simulation(scheduler_factory(kernel.program)(), rate,  # type: ignore[attr-defined]
                        bql=bql, shaper=shaper, trace=log).run(arrivals)

    kernel.reset()
    kernel.set_bql(bql)
    kernel.set_shaper(shaper)
    before = kernel.packets()
    try:
        replay_log(kernel, log, frames, bql=bql_mode is not BqlMode.OFF)
        counted = kernel.packets()
        for name in ("enqueued", "dequeued", "drop_overlimit", "drop_queue_full"):
            assert counted.get(name, 0) - before.get(name, 0) == result.counters[name], name
    finally:
        kernel.set_bql(Bql(BqlMode.OFF))
        kernel.set_shaper(Shaper())
        kernel.flush()
    assert len(limits(log)) == result.counters["dequeued"]
    return log


def limits(log: list[tuple[object, ...]]) -> list[int]:
    """The BQL limits after each completion."""
    return [event[3] for event in log if event[0] == "complete"]  # type: ignore[misc]


@pytest.mark.parametrize(("trace", "start", "expected"), [
    # MTU frames back to back: the device runs dry while the scheduler waits on the
    # limit, which grows by what completed; and again while a completion with the
    # scheduler stopped leaves a single frame in flight: the next completion takes it
    # whether the restart came in time or not, and counts as a starved device (like
    # Linux's DQL, BQL errs towards growth). It settles at four frames.
    ([(0, 10, 0, 1514), (2_000_000, 3, 1, 200)], BQL_MIN, {2 * BQL_MIN, 3 * BQL_MIN,
                                                            4 * BQL_MIN}),
    # A light load: over a hold period in which the limit never stopped the scheduler,
    # it shrinks to the peak in flight, and then to the minimum.
    ([(0, 3, 0, 1000), (2_000_000, 3, 1, 200), (2_000_000, 2, 2, 300)], 65536,
     {65536, 3000, BQL_MIN}),
    # Unclaimed frames arriving while the scheduler waits on the limit: they wake it,
    # it stops on the limit again, and they go first once a completion lifts it.
    ([(0, 10, 0, 1514), (1000, 4, ARP, 60), (2_000_000, 3, 1, 200)], BQL_MIN,
     {2 * BQL_MIN, 3 * BQL_MIN, 4 * BQL_MIN}),
])
def test_adaptive_bql_grows_and_shrinks_as_the_kernels(
        stfq: Stepper, trace: list[tuple[int, int, int, int]], start: int,
        expected: set[int]) -> None:
    assert set(limits(replay(stfq, trace, 10**9, start))) == expected


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trace=bursts, rate=st.sampled_from([10**8, 10**9, 10**10]),
       start=st.sampled_from([BQL_MIN, 3000, 20_000, 64 * 1024]))
def test_adaptive_bql_is_the_kernels(stfq: Stepper, trace: list[tuple[int, int, int, int]],
                                     rate: int, start: int) -> None:
    replay(stfq, trace, rate, start)


# Rates around the sizes and gaps of ``bursts``: from a frame per 100 us to many per us.
shapers = st.builds(
    Shaper, rate=st.sampled_from([10**6, 10**7, 123_456_789, 10**9, 10**10]),
    burst_ns=st.sampled_from([0, 1, 12_345, 1_000_000]),
    overhead=st.sampled_from([0, 24, -14, -64, 256]),
    latency_ns=st.sampled_from([0, 0, 15_000_000, 50_000_000]))


def test_a_rate_limited_run_stops_on_the_rate_as_the_kernels(stfq: Stepper) -> None:
    # 10 Mbit/s counting 24 bytes per frame more, a 100 us burst, 20 ms of latency:
    # of 20 MTU frames at once the queues take 16 (25,125 B); the first goes at once,
    # each next one a frame time (1538 B at 10 Mbit/s: 1.2304 ms) later, the scheduler
    # waking half a burst before. 30 ms later, an idle link: the first of five small
    # frames goes at once, the others 259.2 us apart; then it goes idle.
    shaper, frame, small = Shaper(10**7, 100_000, 24, 20_000_000), 1_230_400, 259_200
    log = replay(stfq, [(0, 20, 0, 1514), (30_000_000, 5, 1, 300)], 10**9, 0, BqlMode.OFF,
                 shaper)
    held = [when for kind, _, when, *_ in log if kind == "held"]
    assert held == [k * frame - 50_000 for k in range(1, 16)] + [
        30_000_000 + k * small - 50_000 for k in range(1, 5)]
    assert [e for e in log if e[0] == "step"][-1] == ("step", held[-1], Deq.EMPTY)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trace=bursts, rate=st.sampled_from([10**8, 10**9, 10**10]), shaper=shapers,
       bql=st.sampled_from([BqlMode.OFF, BqlMode.ADAPTIVE]))
def test_the_link_rate_is_the_kernels(stfq: Stepper, trace: list[tuple[int, int, int, int]],
                                     rate: int, shaper: Shaper, bql: BqlMode) -> None:
    replay(stfq, trace, rate, 64 * 1024, bql, shaper)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trace=bursts, shaper=shapers, bql=st.sampled_from([BqlMode.OFF, BqlMode.ADAPTIVE]))
def test_the_link_rate_with_eligibility_times_is_the_kernels(
        pacing: Stepper, trace: list[tuple[int, int, int, int]], shaper: Shaper,
        bql: BqlMode) -> None:
    # Both must let the head go: the rate's release time and the head's eligibility.
    replay(pacing, trace, 10**9, 64 * 1024, bql, shaper)


# A program that drops what arrives while the link rate is above 50 Mbit/s.
LINK_RATE = """scheduler link
queue q: fifo(capacity = 100)
on enqueue {
  if link_rate > 50Mbit {
    drop fast
  }
  enqueue q
}
"""


@pytest.mark.parametrize("rate", [0, 10**7, 10**8])
def test_the_link_rate_a_program_reads_is_the_kernels(rate: int) -> None:
    # link_rate is xdpq's own: the simulation's shaper, the kernel's xdpq_shape_rate
    # (the deployment's --rate); 0 without one.
    compiled = compile_source(LINK_RATE, "link.xdpq")
    with Stepper(compiled.obj_path) as kernel:
        kernel.program = compiled.program  # type: ignore[attr-defined]
        log = replay(kernel, [(0, 5, 0, 1000)], 10**9, 64 * 1024, BqlMode.ADAPTIVE,
                     Shaper(rate))
        assert len(limits(log)) == (0 if rate > 50 * 10**6 else 5)
        assert kernel.reasons()["fast"][0] == (5 if rate > 50 * 10**6 else 0)
