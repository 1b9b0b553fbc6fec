"""The hand-written C schedulers (kern/sched/) behave as their policies say.

Driven deterministically: frames built with scapy enter through
``xdpq_ingress``; ``xdpq_step`` runs one dequeue at a virtual time.
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from collections.abc import Iterator

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from conftest import REPO
from xdpq.bpf import BpfObject, compile_bpf, xdp_ctx
from xdpq.bpf.program import XDP_DROP

pytestmark = pytest.mark.kernel

LOOPBACK, NO_EGRESS = 1, 0x7FFFFFFF
STEP = struct.Struct("=QiIQIIQ")
DEQ_OK = 0


def udp(dscp: int, sport: int, size: int) -> bytes:
    pkt = Ether() / IP(src="10.0.0.1", dst="10.0.0.2", tos=dscp << 2) / UDP(sport=sport, dport=9)
    return bytes(pkt / bytes(size - len(pkt)))


def loaded(name: str, defines: dict[str, int] | None = None) -> Iterator[BpfObject]:
    with BpfObject(compile_bpf(REPO / f"kern/sched/{name}.bpf.c", defines)) as obj:
        obj.section(".rodata")["xdpq_egress_ifindex"] = NO_EGRESS
        obj.load()
        obj.section(".bss")["xdpq_clock_virtual"] = 1
        pool = obj.map("xdpq_slots").max_entries
        obj.prog("xdpq_pool_fill").run(bytes(64), ctx=xdp_ctx(64), repeat=pool, data_out=False)
        yield obj


@pytest.fixture
def prio() -> Iterator[BpfObject]:
    yield from loaded("prio")


@pytest.fixture
def stfq() -> Iterator[BpfObject]:
    yield from loaded("stfq")


def ingress(obj: BpfObject, frame: bytes) -> None:
    assert obj.prog("xdpq_ingress").run(frame, ctx=xdp_ctx(len(frame), LOOPBACK)).retval == XDP_DROP


def step(obj: BpfObject, now: int = 0) -> tuple[int, int]:
    io = STEP.pack(now, 0, 0, 0, 0, 0, 0)
    out = STEP.unpack(obj.prog("xdpq_step").run(io, ctx=xdp_ctx(len(io))).data[: STEP.size])
    return out[1], out[4]  # result, length


# Class by size: the test tells classes apart by frame length.
CLASS_SIZE = {46: 200, 26: 300, 0: 400}  # EF -> high, AF31 -> medium, best effort -> low


def test_strict_priority_never_serves_a_lower_class_while_a_higher_waits(prio: BpfObject) -> None:
    rng = random.Random(7)
    queued: Counter[int] = Counter()
    for _ in range(300):
        if rng.random() < 0.6:
            dscp = rng.choice(list(CLASS_SIZE))
            ingress(prio, udp(dscp, 1000 + dscp, CLASS_SIZE[dscp]))
            queued[CLASS_SIZE[dscp]] += 1
            continue
        result, size = step(prio)
        if result != DEQ_OK:
            assert not +queued
            continue
        higher = [s for s in CLASS_SIZE.values() if s < size]
        assert all(queued[s] == 0 for s in higher), f"served {size} while {queued} waited"
        queued[size] -= 1


def test_stfq_weights_one_to_two_share_bytes_within_one_packet(stfq: BpfObject) -> None:
    stfq.section(".data").write("stfq_weight", struct.pack("=8I", 1, 2, 1, 1, 1, 1, 1, 1))
    for _ in range(300):  # both flows backlogged: 300 packets each
        ingress(stfq, udp(0, 1111, 1000))  # class 0: weight 1
        ingress(stfq, udp(8, 2222, 1001))  # class 1: weight 2
    served: Counter[int] = Counter()
    for _ in range(300):
        result, size = step(stfq)
        assert result == DEQ_OK
        served[size] += size
    total = served[1000] + served[1001]
    assert abs(served[1001] - total * 2 / 3) <= 1001, served
