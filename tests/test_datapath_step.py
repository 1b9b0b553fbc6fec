"""The datapath of a scheduler object, driven step by step with BPF_PROG_RUN.

No network: frames enter through ``xdpq_ingress`` as the ingress interface
would deliver them, the scheduler runs one dequeue at a time at a virtual
time (``xdpq_step``), and ``xdpq_flush`` empties what is left. Every outcome
must land in exactly one counter.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from xdpq.bpf.program import XDP_DROP, XDP_PASS
from xdpq.ir.link import BQL_HOLD_NS, Bql, BqlMode, Hold
from xdpq.ir.outcomes import BYPASS_CAPACITY, Unclaimed
from xdpq.library import compile_fifo
from xdpq.testing.stepper import Stepper


def eth() -> Ether:
    # Explicit addresses: without them scapy looks the MAC up, with an ARP timeout.
    return Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")


pytestmark = pytest.mark.kernel

DEQ_OK, DEQ_EMPTY = 0, 1


def frame(ethertype: int, size: int, tag: int) -> bytes:
    """A well-formed frame: IPv4 or IPv6 over UDP, or ARP."""
    match ethertype:
        case 0x0800:
            head = eth() / IP(dst="10.0.0.2") / UDP(sport=tag, dport=9)
        case 0x86DD:
            head = eth() / IPv6(dst="fd00::2") / UDP(sport=tag, dport=9)
        case _:
            head = eth() / ARP()
    return bytes(head) + bytes(size - len(head))


@pytest.fixture
def fifo() -> Iterator[Stepper]:
    with Stepper(compile_fifo(8).obj_path) as s:
        yield s


def test_every_enqueue_outcome_has_its_counter(fifo: Stepper) -> None:
    assert fifo.ingress(frame(0x0806, 60, 1)) == XDP_DROP  # ARP: not claimed, forwarded
    assert fifo.ingress(frame(0x0800, 2100, 2)) == XDP_PASS  # larger than a slot
    garbled = bytes(12) + b"\x08\x00" + bytes(46)  # IPv4 ethertype, version 0
    assert fifo.ingress(garbled) == XDP_DROP  # forwarded too
    for i in range(10):  # capacity 8: two are refused
        assert fifo.ingress(frame(0x0800, 100 + i, i)) == XDP_DROP
    assert fifo.packets() == {
        "forward_unclaimed": 1,
        "pass_oversize": 1,
        "forward_malformed": 1,
        "enqueued": 8,
        "drop_queue_full": 2,
    }
    bss = fifo.obj.section(".bss")
    assert bss["xdpq_backlog"] == 10  # the scheduler's 8 and the bypass FIFO's 2
    assert (bss["xdpq_bypass_packets"], bss["xdpq_bypass_bytes"]) == (2, 120)
    assert bss["xdpq_slots_in_use"] == 10
    assert bss["xdpq_timer_fires"] == 0  # the virtual clock: nothing runs by itself


def test_unclaimed_frames_go_out_first_and_unranked(fifo: Stepper) -> None:
    """The bypass FIFO is served before the scheduler's queues, in arrival order."""
    for i in range(3):
        fifo.ingress(frame(0x0800, 100 + i, i))
    fifo.ingress(frame(0x0806, 60, 1))
    fifo.ingress(frame(0x0806, 70, 2))
    got = [fifo.step(now=10 + i) for i in range(6)]
    assert [(g.result, g.len, g.rank) for g in got] == [
        (DEQ_OK, 60, 0), (DEQ_OK, 70, 0), (DEQ_OK, 100, 0), (DEQ_OK, 101, 0),
        (DEQ_OK, 102, 0), (DEQ_EMPTY, 0, 0)]
    bss = fifo.obj.section(".bss")
    assert (bss["xdpq_bypass_packets"], bss["xdpq_bypass_bytes"], bss["xdpq_backlog"]) == (0, 0, 0)
    assert fifo.packets()["dequeued"] == 5


def test_a_full_bypass_fifo_drops_counted(fifo: Stepper) -> None:
    cap = fifo.obj.map("xdpq_bypass").max_entries
    assert cap == BYPASS_CAPACITY
    for _ in range(cap + 3):
        assert fifo.ingress(frame(0x0806, 60, 1)) == XDP_DROP
    assert fifo.packets() == {"forward_unclaimed": cap, "drop_bypass_full": 3}
    assert fifo.obj.section(".bss")["xdpq_slots_in_use"] == cap
    assert fifo.flush() == cap
    assert fifo.obj.section(".bss")["xdpq_slots_in_use"] == 0


def test_unclaimed_stack_passes_what_the_scheduler_does_not_claim() -> None:
    with Stepper(compile_fifo(8).obj_path, unclaimed=Unclaimed.STACK) as s:
        assert s.ingress(frame(0x0806, 60, 1)) == XDP_PASS
        assert s.ingress(bytes(12) + b"\x08\x00" + bytes(46)) == XDP_PASS
        assert s.ingress(frame(0x0800, 100, 1)) == XDP_DROP
        assert s.packets() == {"pass_unclaimed": 1, "pass_malformed": 1, "enqueued": 1}
        assert s.obj.section(".bss")["xdpq_backlog"] == 1


def test_steps_dequeue_in_order_and_stage_for_transmit(fifo: Stepper) -> None:
    sizes = [100, 200, 300]
    for i, size in enumerate(sizes):
        fifo.ingress(frame(0x0800, size, i))
    got = [fifo.step(now=1000 + i) for i in range(4)]
    assert [g.result for g in got] == [DEQ_OK, DEQ_OK, DEQ_OK, DEQ_EMPTY]
    assert [g.len for g in got[:3]] == sizes
    bss = fifo.obj.section(".bss")
    assert bss["xdpq_staged"] == 3 and bss["xdpq_backlog"] == 0
    assert fifo.packets()["dequeued"] == 3


def test_flush_frees_every_slot_and_counts_it(fifo: Stepper) -> None:
    for i in range(5):
        fifo.ingress(frame(0x86DD, 80, i))
    fifo.step(now=1)  # one staged, four still queued
    assert fifo.flush() == 5
    assert fifo.packets()["drop_shutdown"] == 5
    bss = fifo.obj.section(".bss")
    assert bss["xdpq_slots_in_use"] == 0
    assert bss["xdpq_backlog"] == 0 and bss["xdpq_staged"] == 0


# -- adaptive BQL on the virtual clock -------------------------------------------

MTU = 1000  # the frames' size in these tests


def blocked_after_three(s: Stepper) -> None:
    """Adaptive BQL with room for three frames, eight queued: the scheduler sends three
    at virtual time 0 and stops on the limit."""
    s.set_bql(Bql(BqlMode.ADAPTIVE, 3 * MTU))
    for i in range(8):
        s.ingress(frame(0x0800, MTU, i))
    assert [s.step(now=0).result for _ in range(4)] == [DEQ_OK] * 3 + [Hold.BQL]


def test_a_device_that_ran_dry_after_a_stop_grows_the_limit(fifo: Stepper) -> None:
    # The first completion finds the scheduler stopped and lifts the limit; the restart
    # (the timer, the transmitter) is slow, and by the next completion the device took
    # everything it had: it starved while packets waited. Nothing is in flight by then
    # only because nothing was sent; the limit grows by what completed.
    blocked_after_three(fifo)
    first = fifo.complete(now=1000)
    assert (first.blocked, first.limit, first.inflight) == (False, 3 * MTU, 2 * MTU)
    second = fifo.complete(now=2000, frames=2)
    assert (second.limit, second.inflight) == (5 * MTU, 0)
    assert fifo.obj.section(".bss")["xdpq_bql_starved"] == 1


def test_a_device_still_busy_after_a_stop_keeps_the_limit(fifo: Stepper) -> None:
    # The restart came in time: the scheduler sent again after the first completion,
    # and the next one leaves frames from before it in flight: no starvation.
    blocked_after_three(fifo)
    fifo.complete(now=1000)
    assert [fifo.step(now=1100).result for _ in range(2)] == [DEQ_OK, Hold.BQL]
    later = fifo.complete(now=2000)
    assert (later.limit, later.inflight) == (3 * MTU, 2 * MTU)
    assert fifo.obj.section(".bss")["xdpq_bql_starved"] == 0


def test_a_limit_that_never_stops_the_scheduler_shrinks_to_the_peak(fifo: Stepper) -> None:
    # 64 kB, and never more than three frames at once: after a hold period in which the
    # limit never stopped the scheduler, it is what the device needed.
    fifo.set_bql(Bql(BqlMode.ADAPTIVE, 64 * 1024))
    for i in range(3):
        fifo.ingress(frame(0x0800, MTU, i))
    assert [fifo.step(now=0).result for _ in range(4)] == [DEQ_OK] * 3 + [DEQ_EMPTY]
    assert fifo.complete(now=1000, frames=3).limit == 64 * 1024  # within the hold period
    fifo.ingress(frame(0x0800, MTU, 3))
    assert fifo.step(now=BQL_HOLD_NS).result == DEQ_OK
    done = fifo.complete(now=BQL_HOLD_NS + 1000)
    assert (done.limit, done.inflight) == (3 * MTU, 0)
    assert fifo.obj.section(".bss")["xdpq_bql_starved"] == 0
