"""The kernel datapath and the simulator's scheduler twins agree, packet by packet.

Hypothesis generates traces of arrivals (flow, DSCP, size) and scheduler
steps; both executions run each trace: the kernel through ``xdpq_ingress``
and ``xdpq_step`` with a virtual clock, the simulator through its
scheduler twin. Every dequeue must give the same packet, and every outcome
must land in the same counter.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from conftest import REPO
from xdpq.bpf import compile_bpf
from xdpq.packet import parse
from xdpq.runtime.stepper import Stepper
from xdpq.sim.handwritten import FifoScheduler, PrioScheduler, StfqScheduler
from xdpq.sim.scheduler import Claim, Deq, Scheduler, enqueue_counters


def eth() -> Ether:
    # Explicit addresses: without them scapy looks the MAC up, with an ARP timeout.
    return Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")


pytestmark = pytest.mark.kernel

CAPACITY = 16
STFQ_WEIGHTS = (1, 2, 3, 1, 1, 4, 1, 1)
FLOWS = [(0, 1000), (8, 1001), (26, 1002), (46, 1003), (0, 1004)]  # (dscp, sport)


@dataclass(frozen=True)
class Arrive:
    flow: int
    size: int


@dataclass(frozen=True)
class Step:
    dt: int


events = st.lists(
    st.one_of(
        st.builds(Arrive, st.integers(0, len(FLOWS) - 1), st.integers(64, 1500)),
        st.builds(Step, st.integers(0, 10_000)),
    ),
    max_size=80,
)


def frame(flow: int, size: int) -> bytes:
    dscp, sport = FLOWS[flow]
    pkt = eth() / IP(src="10.0.0.1", dst="10.0.0.2", tos=dscp << 2) / UDP(sport=sport, dport=9)
    return bytes(pkt / bytes(size - len(pkt)))


SCHEDULERS = {
    "fifo": (lambda: FifoScheduler(CAPACITY), {"FIFO_CAPACITY": CAPACITY}),
    "prio": (lambda: PrioScheduler(CAPACITY), {"PRIO_CAPACITY": CAPACITY}),
    "stfq": (lambda: StfqScheduler(CAPACITY, weights=list(STFQ_WEIGHTS)),
             {"STFQ_CAPACITY": CAPACITY}),
}


@pytest.fixture(scope="module", params=sorted(SCHEDULERS))
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, Stepper]]:
    name = request.param
    with Stepper(compile_bpf(REPO / f"kern/sched/{name}.bpf.c", SCHEDULERS[name][1])) as s:
        yield name, s


def reset(name: str, kernel: Stepper) -> None:
    """Empty the kernel's queues and scheduler state: a fresh run."""
    kernel.flush()
    if name == "stfq":
        kernel.obj.section(".data").write("stfq_weight", struct.pack("=8I", *STFQ_WEIGHTS))
        kernel.obj.section(".bss")["stfq_vtime"] = 0
        flows = kernel.obj.map("stfq_flows")
        for key in list(flows.keys()):
            flows.delete(key)


Outcomes = list[tuple[int, int, int]]


def run_kernel(kernel: Stepper, trace: list[Arrive | Step]) -> tuple[Outcomes, Counter[str]]:
    before = kernel.packets()
    now, out = 0, []
    for ev in trace:
        if isinstance(ev, Arrive):
            kernel.ingress(frame(ev.flow, ev.size), now)
            continue
        now += ev.dt
        got = kernel.step(now)
        ok = got.result == Deq.OK.value
        out.append((got.result, got.rank if ok else 0, got.len if ok else 0))
    after = kernel.packets()
    return out, +Counter({k: n - before.get(k, 0) for k, n in after.items()})


def run_model(sched: Scheduler, trace: list[Arrive | Step]) -> tuple[Outcomes, Counter[str]]:
    now, out, counts = 0, [], Counter[str]()
    for i, ev in enumerate(trace):
        if isinstance(ev, Arrive):
            pkt = parse(frame(ev.flow, ev.size))
            claim = sched.classify(pkt, now)
            if claim is not Claim.CLAIM:
                counts[claim.value] += 1
                continue
            counts.update(enqueue_counters(sched.enqueue(pkt, i, now)))
            continue
        now += ev.dt
        d = sched.dequeue(now)
        out.append((d.outcome.value, d.rank, d.size))
        if d.outcome is Deq.OK:
            counts["dequeued"] += 1
    return out, counts


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(trace=events)
# Found by this test: a rank below a fresh PIFO window is clamped, and the
# kernel counts that as pifo_clamped as well as enqueued.
@example(trace=[Arrive(0, 64), Step(0), Arrive(0, 64), Arrive(1, 64)])
def test_kernel_and_simulator_dequeue_the_same_packets(
    pair: tuple[str, Stepper], trace: list[Arrive | Step]
) -> None:
    name, kernel = pair
    reset(name, kernel)
    kernel_out, kernel_counts = run_kernel(kernel, trace)
    model_out, model_counts = run_model(SCHEDULERS[name][0](), trace)
    assert kernel_out == model_out
    assert kernel_counts == model_counts
