"""Arrivals carry the scheduler's frames out: also one the scheduler does not take, and
also after the BQL limit held them.

Cutting through (kern/datapath.h) only happens on the device a deployment names,
on the real clock; here the stepper's ingress runs the program as that device's
would (xdpq_cut_ifindex is the loopback the run names), with a real egress for
the redirect. A full queue refuses the arrival, and the arrival's frame leaves
with the queue's head in it: at saturation a full queue refuses nearly every
arrival, and when only stored arrivals carried departures, one that filled
during a BQL stop drained at a trickle (docs/datapath.md, "Cut through").
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from xdpq.bpf import xdp_ctx
from xdpq.bpf.program import XDP_DROP, XDP_REDIRECT
from xdpq.ir.link import Bql, BqlMode
from xdpq.ir.outcomes import Deq
from xdpq.library import compile_fifo, compile_library
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import DUT, TestBed
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.runtime.deploy import Deployment
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.stepper import LOOPBACK, Stepper

pytestmark = pytest.mark.kernel


def test_a_refused_arrival_carries_the_head_out() -> None:
    first, second, third = (frame(FrameSpec(200 + 100 * k, sport=k + 1)) for k in range(3))
    with TestBed() as bed, bed.enter(DUT), \
            Stepper(compile_fifo(2).obj_path, egress_ifindex=bed.ifindex("out0")) as s:
        # Stored while nothing may cut through (the stepper's virtual clock).
        assert s.ingress(first) == XDP_DROP and s.ingress(second) == XDP_DROP
        cutting(s)
        bss = s.obj.section(".bss")
        out = s.obj.prog("xdpq_ingress").run(third, ctx=xdp_ctx(len(third), LOOPBACK))
        assert out.retval == XDP_REDIRECT
        assert out.data[: len(first)] == first  # the head, in the refused arrival's frame
        assert s.packets() == {"enqueued": 2, "drop_queue_full": 1, "dequeued": 1,
                               "transmitted": 1}
        assert bss["xdpq_cut_sent"] == 1
        bss["xdpq_clock_virtual"] = 1
        left = s.step()  # the second is still queued, and only it
        assert (left.result, left.len) == (Deq.OK.value, len(second))
        assert s.step().result == Deq.EMPTY.value


def cutting(s: Stepper) -> None:
    """From now on the stepper's arrivals may send in their place, on the real clock."""
    bss = s.obj.section(".bss")
    bss["xdpq_clock_virtual"] = 0
    bss["xdpq_cut_ifindex"] = LOOPBACK


def test_an_arrival_the_limit_holds_lets_adaptive_bql_grow_it() -> None:
    # While arrivals carry the load the timer holds off and never meets the limit
    # itself. Three 1000-byte frames fill a limit of three; the fourth is held. When
    # the device has taken all three, it starved while the fourth waited: the limit
    # grows by what completed. (Before, only the timer said it was held: a limit too
    # small for the device never grew, and 31 % of a 1500-byte load was refused.)
    frames = [frame(FrameSpec(1000, sport=k + 1)) for k in range(4)]
    with TestBed() as bed, bed.enter(DUT), \
            Stepper(compile_fifo(8).obj_path, egress_ifindex=bed.ifindex("out0")) as s:
        s.set_bql(Bql(BqlMode.ADAPTIVE, 3 * 1000))
        cutting(s)
        assert [s.ingress(f) for f in frames] == [XDP_REDIRECT] * 3 + [XDP_DROP]
        bss = s.obj.section(".bss")
        assert (bss["xdpq_bql_blocked"], bss["xdpq_backlog"]) == (1, 1)
        done = s.complete(now=bss["xdpq_bql_heard_at"] + 1000, frames=3)
        assert (done.limit, done.inflight, done.blocked) == (6 * 1000, 0, False)
        assert bss["xdpq_bql_starved"] == 1


def test_an_arrival_behind_the_transmitters_frames_holds_the_timer_off() -> None:
    # A staged frame is the transmitter's to send: the arrival may not overtake it, so
    # it is stored, and says that it would have carried one (the timer then stages no
    # more, the transmitter runs dry, and arrivals carry the load again). Held by the
    # limit, it would not have carried one, and says nothing.
    a, b, c = (frame(FrameSpec(300, sport=k + 1)) for k in range(3))
    with TestBed() as bed, bed.enter(DUT), \
            Stepper(compile_fifo(8).obj_path, egress_ifindex=bed.ifindex("out0")) as s:
        s.set_bql(Bql(BqlMode.FIXED, 2 * 300))
        assert s.ingress(a) == XDP_DROP and s.step().result == Deq.OK.value  # staged
        cutting(s)
        bss = s.obj.section(".bss")
        assert s.ingress(b) == XDP_DROP
        wanted = bss["xdpq_cut_wanted_at"]
        assert wanted > 0 and bss["xdpq_backlog"] == 1
        s.set_bql(Bql(BqlMode.FIXED, 300))  # the staged frame, in flight, fills it
        assert s.ingress(c) == XDP_DROP
        assert bss["xdpq_cut_wanted_at"] == wanted and bss["xdpq_backlog"] == 2


def test_a_load_faster_than_the_transmitter_is_carried_without_refusals() -> None:
    # 1500-byte frames as fast as the sender goes, through a FIFO with adaptive BQL, to
    # a receiver that keeps up. Arrivals held by the limit are queued; if the timer's
    # frames then kept them from carrying, the queue filled and 30-70 % were refused.
    flows = [Flow(size=1500, sport=100 + i) for i in range(8)]
    compiled = compile_library("fifo")
    with TestBed() as bed, Receiver(bed) as rcv, TrafficGen(bed, flows) as gen:
        with bed.enter(DUT):
            d = Deployment(compiled.obj_path, "in0", "out0", bql=Bql.parse("adaptive"),
                           program=compiled.program)
        try:
            sent = gen.send(100_000)
        finally:
            d.close()
        assert d.final is not None
        refused = d.final.counters["drop_queue_full"].packets
        assert sent == 100_000 and rcv.received >= sent - gen.refused - refused
        assert refused <= sent // 100, f"{refused} of {sent} refused"


def on_cpu(cpu: int, s: Stepper, f: bytes) -> int:
    """The arrival ``f`` on CPU ``cpu`` (a BPF_PROG_RUN runs where it is called)."""
    os.sched_setaffinity(0, {cpu})
    return s.ingress(f)


@pytest.fixture
def two_cpus() -> Iterator[tuple[int, int]]:
    cpus = sorted(os.sched_getaffinity(0))
    assert len(cpus) >= 2, "this needs two CPUs"
    yield cpus[0], cpus[1]
    os.sched_setaffinity(0, set(cpus))


def test_an_arrival_on_another_cpu_long_after_the_last_one_sends_at_once(
        two_cpus: tuple[int, int]) -> None:
    # A frame an arrival sent waits in its CPU's bulk queue until its NAPI poll ends,
    # so an arrival on another CPU waits the grace (200 us) after it; long after, it
    # sends at once. Arrivals do not read the clock for every frame they send; when
    # lookers only knew the count, the first on a new CPU waited the grace from its own
    # first look, and each such frame was 200 us late.
    first, other = two_cpus
    a, b = (frame(FrameSpec(300, sport=k + 1)) for k in range(2))
    with TestBed() as bed, bed.enter(DUT), \
            Stepper(compile_fifo(8).obj_path, egress_ifindex=bed.ifindex("out0")) as s:
        cutting(s)
        assert on_cpu(first, s, a) == XDP_REDIRECT
        time.sleep(0.002)
        assert on_cpu(other, s, b) == XDP_REDIRECT
        assert s.obj.section(".bss")["xdpq_backlog"] == 0
