"""Every frame the ingress program sees gets one defined outcome and exactly
one counter, as the Python twin of the parser predicts: valid IP is
enqueued, other L3 goes to the stack unclaimed, anything the parser calls
malformed goes to the stack as malformed, a frame larger than a slot goes to
the stack as oversize. (Reliability: the full 100k-frame count is a
benchmark; CI runs a scaled sample.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from xdpq.bpf.program import XDP_DROP, XDP_PASS
from xdpq.library import compile_fifo
from xdpq.packet import ParseStatus, parse
from xdpq.runtime.stepper import Stepper


def eth() -> Ether:
    # Explicit addresses: without them scapy looks the MAC up, with an ARP timeout.
    return Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")


pytestmark = pytest.mark.kernel

SLOT_DATA = 2048


@pytest.fixture(scope="module")
def fifo() -> Iterator[Stepper]:
    with Stepper(compile_fifo(4096).obj_path) as s:
        yield s


def expected(frame: bytes) -> tuple[str, int]:
    """The counter and verdict the datapath must give, from the Python twin."""
    if len(frame) >= SLOT_DATA:
        return "pass_oversize", XDP_PASS
    pkt = parse(frame)
    if pkt.status != ParseStatus.OK:
        return "pass_malformed", XDP_PASS
    if not pkt.ip_ver:
        return "pass_unclaimed", XDP_PASS
    return "enqueued", XDP_DROP


bases = st.sampled_from(
    [
        bytes(p)
        for p in (
            eth() / IP(dst="10.0.0.2") / UDP(sport=1, dport=2) / (b"x" * 40),
            eth() / Dot1Q(vlan=5) / IP(dst="10.0.0.2", ihl=6, options=b"\x01" * 4) / TCP() / b"y",
            eth() / IPv6(dst="fd00::2") / UDP() / (b"z" * 30),
            eth() / Dot1Q(vlan=1) / Dot1Q(vlan=2) / IPv6() / TCP(),
            eth() / ARP(),
        )
    ]
)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(bases))
    match draw(st.sampled_from(["as is", "cut", "flip", "grow", "noise"])):
        case "cut":
            raw = raw[: draw(st.integers(14, len(raw)))]
        case "flip":
            for _ in range(draw(st.integers(1, 4))):
                raw[draw(st.integers(12, len(raw) - 1))] = draw(st.integers(0, 255))
        case "grow":
            raw += bytes(draw(st.sampled_from([100, SLOT_DATA - len(raw), 3000 - len(raw)])))
        case "noise":
            raw = bytearray(draw(st.binary(min_size=14, max_size=200)))
    return bytes(raw)


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames())
def test_each_frame_gets_its_outcome_and_exactly_one_counter(fifo: Stepper, frame: bytes) -> None:
    counter, verdict = expected(frame)
    before = fifo.packets()
    assert fifo.ingress(frame) == verdict
    after = fifo.packets()
    changed = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert changed == {counter: 1}
    if counter == "enqueued":
        fifo.flush()
