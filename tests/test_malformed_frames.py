"""Malformed frames through a scheduler's ingress program (issue 8, point 1).

Every frame ``xdpq_ingress`` is handed gets one defined outcome: the XDP
verdict and the one counter the Python twin of the parser predicts
(:func:`xdpq.testing.malformed.expected`), moved by exactly one packet and the frame's
bytes; no other counter moves. The ingress counters sum to the frames run;
after a flush every enqueued packet is accounted for (dequeued and flushed
from the transmit ring, or flushed from the queue) and every slot is back on
the free list, each index exactly once.

The corpus (:mod:`xdpq.testing.malformed`): truncation at every length (so at every
header boundary) with the IP length claiming the whole datagram and agreeing
with the cut, every IHL, IP lengths at each rule's edge, wrong versions,
0 to 6 VLAN tags, IPv6 chains of 0 to 10 extension headers, frames around the
slot size, then hypothesis-driven random mutations. ``bench/malformed.py``
runs 100k of the random ones.

Defined outcomes at the edges, as this kernel (6.18) behaves:

- Frames under 14 bytes: ``BPF_PROG_RUN`` refuses them (``EINVAL``) before the
  program runs, and no driver delivers one; nothing is counted.
- Frames of 2048 bytes or more do not fit a slot: ``XDP_PASS``,
  ``pass_oversize``. ``BPF_PROG_RUN`` builds a linear buffer of at most 3520
  bytes (a page less headroom and ``skb_shared_info``) and puts the rest of a
  longer frame (a 9000-byte jumbo frame) in page fragments, and it does so
  for the scheduler's program too, although that one is not declared
  ``xdp.frags``: the program sees the first 3520 bytes.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xdpq.bpf import xdp_ctx
from xdpq.bpf.program import XDP_DROP, XDP_PASS
from xdpq.errors import BpfError
from xdpq.library import compile_fifo, compile_library
from xdpq.packet import ParseStatus
from xdpq.testing.malformed import (
    ETH_HLEN,
    LINEAR_MAX,
    SLOT_DATA,
    IngressCheck,
    random_frame,
    sized,
    systematic,
    v4_frame,
    v6_frame,
)
from xdpq.testing.stepper import LOOPBACK, Stepper

pytestmark = pytest.mark.kernel

SCHEDULERS = {
    "fifo": lambda: compile_fifo(4096),
    "stfq": lambda: compile_library("stfq"),
}


def stepper(name: str) -> Stepper:
    return Stepper(SCHEDULERS[name]().obj_path)


@pytest.fixture
def fifo() -> Iterator[Stepper]:
    with stepper("fifo") as s:
        yield s


def report(check: IngressCheck) -> str:
    return "\n".join(str(m) for m in check.mismatches[:5])


@pytest.mark.parametrize("sched", sorted(SCHEDULERS))
def test_every_enumerated_frame_gets_its_outcome_and_one_counter(sched: str) -> None:
    with stepper(sched) as s:
        check = IngressCheck(s)
        corpus = list(systematic())
        for label, frame in corpus:
            check.send(frame, label)
        check.drain()
        assert not check.mismatches, report(check)
        assert not check.conservation_errors
        assert check.sent + check.refused == len(corpus) > 1500
        # The corpus reaches every parse status and every outcome.
        assert set(check.statuses) == {s.name for s in ParseStatus}
        assert set(check.outcomes) == {
            "refused", "pass_oversize", "forward_malformed", "forward_unclaimed", "enqueued",
        }  # fmt: skip
        assert check.dequeued > 0


@pytest.fixture(scope="module")
def random_check() -> Iterator[IngressCheck]:
    with stepper("fifo") as s:
        check = IngressCheck(s, drain_every=64)
        yield check
        check.drain()
        assert not check.conservation_errors


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rng=st.randoms(use_true_random=False))
def test_random_mutations_get_their_outcome(random_check: IngressCheck, rng) -> None:  # type: ignore[no-untyped-def]
    frame = random_frame(rng)
    assert random_check.send(frame, "random"), report(random_check)
    assert not random_check.conservation_errors


def test_frames_shorter_than_ethernet_are_refused_and_count_nothing(fifo: Stepper) -> None:
    check = IngressCheck(fifo)
    before = check.counters()
    prog = fifo.obj.prog("xdpq_ingress")
    for n in range(ETH_HLEN):
        with pytest.raises(BpfError) as exc:
            prog.run(bytes(range(n)), ctx=xdp_ctx(n, LOOPBACK))
        assert exc.value.errno == errno.EINVAL, n
        with pytest.raises(BpfError):
            prog.run(bytes(range(n)))  # without a context: the same
    assert check.counters() == before
    # 14 bytes run: ethertype 0, not claimed, forwarded
    assert fifo.ingress(bytes(ETH_HLEN)) == XDP_DROP
    assert check.counters()["forward_unclaimed"] == (1, ETH_HLEN)


JUMBO_SIZES = (SLOT_DATA, LINEAR_MAX, LINEAR_MAX + 1, 4096, 9000, 9018)


@pytest.mark.parametrize("size", JUMBO_SIZES)
def test_jumbo_and_multibuffer_frames_pass_counted_with_their_bytes(fifo: Stepper, size: int):
    for b in (v4_frame("v4", 17), v6_frame("v6", 6, tags=((0x8100, 3),))):
        frame = sized(b, size)
        # The kernel takes the whole frame (linear part plus fragments) and gives it back.
        res = fifo.obj.prog("xdpq_ingress").run(frame, ctx=xdp_ctx(size, LOOPBACK))
        assert res.retval == XDP_PASS and res.data == frame
        check = IngressCheck(fifo)
        assert check.send(frame, f"{size}"), report(check)
        check.drain()
        assert not check.conservation_errors


def test_a_flush_counts_the_bytes_of_every_packet_it_drops(fifo: Stepper) -> None:
    """drop_shutdown counts packets and bytes, staged ones too: after a flush, the bytes
    enqueued equal the bytes transmitted, dropped by AQM, or flushed."""
    check = IngressCheck(fifo, drain_every=10**9)
    for size in (100, 200, 300, 400):
        assert check.send(sized(v4_frame("v4", 17), size))
    check.drain()  # two dequeued (staged on the transmit ring), two still queued
    assert check.dequeued == 2
    assert not check.conservation_errors
    assert not check.byte_errors
