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
from xdpq.bpf import compile_bpf
from xdpq.bpf.program import XDP_DROP
from xdpq.runtime.stepper import Stepper


def eth() -> Ether:
    # Explicit addresses: without them scapy looks the MAC up, with an ARP timeout.
    return Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")


pytestmark = pytest.mark.kernel

DEQ_OK = 0


def udp(dscp: int, sport: int, size: int) -> bytes:
    pkt = eth() / IP(src="10.0.0.1", dst="10.0.0.2", tos=dscp << 2) / UDP(sport=sport, dport=9)
    return bytes(pkt / bytes(size - len(pkt)))


@pytest.fixture
def prio() -> Iterator[Stepper]:
    with Stepper(compile_bpf(REPO / "kern/sched/prio.bpf.c")) as s:
        yield s


@pytest.fixture
def stfq() -> Iterator[Stepper]:
    with Stepper(compile_bpf(REPO / "kern/sched/stfq.bpf.c")) as s:
        yield s


def ingress(sched: Stepper, frame: bytes) -> None:
    assert sched.ingress(frame) == XDP_DROP


# Class by size: the test tells classes apart by frame length.
CLASS_SIZE = {46: 200, 26: 300, 0: 400}  # EF -> high, AF31 -> medium, best effort -> low


def test_strict_priority_never_serves_a_lower_class_while_a_higher_waits(prio: Stepper) -> None:
    rng = random.Random(7)
    queued: Counter[int] = Counter()
    for _ in range(300):
        if rng.random() < 0.6:
            dscp = rng.choice(list(CLASS_SIZE))
            ingress(prio, udp(dscp, 1000 + dscp, CLASS_SIZE[dscp]))
            queued[CLASS_SIZE[dscp]] += 1
            continue
        got = prio.step()
        result, size = got.result, got.len
        if result != DEQ_OK:
            assert not +queued
            continue
        higher = [s for s in CLASS_SIZE.values() if s < size]
        assert all(queued[s] == 0 for s in higher), f"served {size} while {queued} waited"
        queued[size] -= 1


def test_stfq_weights_one_to_two_share_bytes_within_one_packet(stfq: Stepper) -> None:
    stfq.obj.section(".data").write("stfq_weight", struct.pack("=8I", 1, 2, 1, 1, 1, 1, 1, 1))
    for _ in range(300):  # both flows backlogged: 300 packets each
        ingress(stfq, udp(0, 1111, 1000))  # class 0: weight 1
        ingress(stfq, udp(8, 2222, 1001))  # class 1: weight 2
    served: Counter[int] = Counter()
    for _ in range(300):
        got = stfq.step()
        assert got.result == DEQ_OK
        served[got.len] += got.len
    total = served[1000] + served[1001]
    assert abs(served[1001] - total * 2 / 3) <= 1001, served
