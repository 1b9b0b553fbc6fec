"""The datapath of a scheduler object, driven step by step with BPF_PROG_RUN.

No network: frames enter through ``xdpq_ingress`` as the ingress interface
would deliver them, the scheduler runs one dequeue at a time at a virtual
time (``xdpq_step``), and ``xdpq_flush`` empties what is left. Every outcome
must land in exactly one counter.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from conftest import REPO
from xdpq.bpf import BpfObject, compile_bpf, xdp_ctx
from xdpq.bpf.program import XDP_DROP, XDP_PASS
from xdpq.runtime.counters import read_counters

pytestmark = pytest.mark.kernel

LOOPBACK = 1  # a real device for the run's context; never the egress
NO_EGRESS = 0x7FFFFFFF
STEP = struct.Struct("=QiIQIIQ")
DEQ_OK, DEQ_EMPTY = 0, 1


def frame(ethertype: int, size: int, tag: int) -> bytes:
    """A well-formed frame: IPv4 or IPv6 over UDP, or ARP."""
    match ethertype:
        case 0x0800:
            head = Ether() / IP(dst="10.0.0.2") / UDP(sport=tag, dport=9)
        case 0x86DD:
            head = Ether() / IPv6(dst="fd00::2") / UDP(sport=tag, dport=9)
        case _:
            head = Ether() / ARP()
    return bytes(head) + bytes(size - len(head))


@pytest.fixture
def fifo() -> Iterator[BpfObject]:
    path = compile_bpf(REPO / "kern/sched/fifo.bpf.c", {"FIFO_CAPACITY": 8})
    with BpfObject(path) as obj:
        obj.section(".rodata")["xdpq_egress_ifindex"] = NO_EGRESS
        obj.load()
        obj.section(".bss")["xdpq_clock_virtual"] = 1
        pool = obj.map("xdpq_slots").max_entries
        obj.prog("xdpq_pool_fill").run(bytes(64), ctx=xdp_ctx(64), repeat=pool, data_out=False)
        yield obj


def ingress(obj: BpfObject, data: bytes) -> int:
    return obj.prog("xdpq_ingress").run(data, ctx=xdp_ctx(len(data), LOOPBACK)).retval


def step(obj: BpfObject, now: int) -> tuple[int, int, int]:
    io = STEP.pack(now, 0, 0, 0, 0, 0, 0)
    out = STEP.unpack(obj.prog("xdpq_step").run(io, ctx=xdp_ctx(len(io))).data[: STEP.size])
    return out[1], out[2], out[4]  # result, slot, len


def packets(obj: BpfObject) -> dict[str, int]:
    return {k: v.packets for k, v in read_counters(obj).items() if v.packets}


def test_every_enqueue_outcome_has_its_counter(fifo: BpfObject) -> None:
    assert ingress(fifo, frame(0x0806, 60, 1)) == XDP_PASS  # ARP: not claimed
    assert ingress(fifo, frame(0x0800, 2100, 2)) == XDP_PASS  # larger than a slot
    garbled = bytes(12) + b"\x08\x00" + bytes(46)  # IPv4 ethertype, version 0
    assert ingress(fifo, garbled) == XDP_PASS
    for i in range(10):  # capacity 8: two are refused
        assert ingress(fifo, frame(0x0800, 100 + i, i)) == XDP_DROP
    assert packets(fifo) == {
        "pass_unclaimed": 1,
        "pass_oversize": 1,
        "pass_malformed": 1,
        "enqueued": 8,
        "drop_queue_full": 2,
    }
    bss = fifo.section(".bss")
    assert bss["xdpq_backlog"] == 8
    assert bss["xdpq_slots_in_use"] == 8
    assert bss["xdpq_timer_fires"] == 0  # the virtual clock: nothing runs by itself


def test_steps_dequeue_in_order_and_stage_for_transmit(fifo: BpfObject) -> None:
    sizes = [100, 200, 300]
    for i, size in enumerate(sizes):
        ingress(fifo, frame(0x0800, size, i))
    got = [step(fifo, now=1000 + i) for i in range(4)]
    assert [g[0] for g in got] == [DEQ_OK, DEQ_OK, DEQ_OK, DEQ_EMPTY]
    assert [g[2] for g in got[:3]] == sizes
    bss = fifo.section(".bss")
    assert bss["xdpq_staged"] == 3 and bss["xdpq_backlog"] == 0
    assert packets(fifo)["dequeued"] == 3


def test_flush_frees_every_slot_and_counts_it(fifo: BpfObject) -> None:
    for i in range(5):
        ingress(fifo, frame(0x86DD, 80, i))
    step(fifo, now=1)  # one staged, four still queued
    flush = fifo.prog("xdpq_flush")
    runs = 0
    while flush.run(bytes(64), ctx=xdp_ctx(64)).retval == XDP_PASS:
        runs += 1
    assert runs == 5
    assert packets(fifo)["drop_shutdown"] == 5
    bss = fifo.section(".bss")
    assert bss["xdpq_slots_in_use"] == 0
    assert bss["xdpq_backlog"] == 0 and bss["xdpq_staged"] == 0
