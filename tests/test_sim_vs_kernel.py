"""The kernel datapath and the simulator's scheduler twins agree, packet by packet.

Hypothesis generates traces of arrivals (flow, DSCP, size) and scheduler
steps; both executions run each trace: the kernel through ``xdpq_ingress``
and ``xdpq_step`` with a virtual clock, the simulator through its
scheduler twin. Every dequeue must give the same packet, and every outcome
must land in the same counter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from test_sched_handwritten import LOOPBACK, NO_EGRESS, STEP

from conftest import REPO
from xdpq.bpf import BpfObject, compile_bpf, xdp_ctx
from xdpq.packet import parse
from xdpq.runtime.counters import read_counters
from xdpq.sim.handwritten import FifoScheduler, PrioScheduler, StfqScheduler
from xdpq.sim.scheduler import Claim, Deq, Scheduler, enqueue_counters

pytestmark = pytest.mark.kernel

CAPACITY = 16
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
    pkt = Ether() / IP(src="10.0.0.1", dst="10.0.0.2", tos=dscp << 2) / UDP(sport=sport, dport=9)
    return bytes(pkt / bytes(size - len(pkt)))


SCHEDULERS = {
    "fifo": (lambda: FifoScheduler(CAPACITY), {"FIFO_CAPACITY": CAPACITY}),
    "prio": (lambda: PrioScheduler(CAPACITY), {"PRIO_CAPACITY": CAPACITY}),
    "stfq": (lambda: StfqScheduler(CAPACITY, weights=[1, 2, 3, 1, 1, 4, 1, 1]),
             {"STFQ_CAPACITY": CAPACITY}),
}


@pytest.fixture(scope="module", params=sorted(SCHEDULERS))
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, BpfObject]]:
    name = request.param
    with BpfObject(compile_bpf(REPO / f"kern/sched/{name}.bpf.c", SCHEDULERS[name][1])) as obj:
        obj.section(".rodata")["xdpq_egress_ifindex"] = NO_EGRESS
        obj.load()
        obj.section(".bss")["xdpq_clock_virtual"] = 1
        pool = obj.map("xdpq_slots").max_entries
        obj.prog("xdpq_pool_fill").run(bytes(64), ctx=xdp_ctx(64), repeat=pool, data_out=False)
        yield name, obj


def reset(name: str, obj: BpfObject) -> None:
    """Empty the kernel's queues and scheduler state: a fresh run."""
    flush = obj.prog("xdpq_flush")
    while flush.run(bytes(64), ctx=xdp_ctx(64)).retval == 2:
        pass
    if name == "stfq":
        obj.section(".data").write("stfq_weight", (b"\x01\0\0\0\x02\0\0\0\x03\0\0\0\x01\0\0\0"
                                                        b"\x01\0\0\0\x04\0\0\0\x01\0\0\0\x01\0\0\0"))
        obj.section(".bss")["stfq_vtime"] = 0
        flows = obj.map("stfq_flows")
        for key in list(flows.keys()):
            flows.delete(key)


Outcomes = list[tuple[int, int, int]]


def run_kernel(obj: BpfObject, trace: list[Arrive | Step]) -> tuple[Outcomes, Counter[str]]:
    before = {k: v.packets for k, v in read_counters(obj).items()}
    bss = obj.section(".bss")
    now, out = 0, []
    for ev in trace:
        bss["xdpq_virtual_now"] = now
        if isinstance(ev, Arrive):
            data = frame(ev.flow, ev.size)
            obj.prog("xdpq_ingress").run(data, ctx=xdp_ctx(len(data), LOOPBACK))
            continue
        now += ev.dt
        io = STEP.pack(now, 0, 0, 0, 0, 0, 0)
        res = STEP.unpack(obj.prog("xdpq_step").run(io, ctx=xdp_ctx(len(io))).data[: STEP.size])
        ok = res[1] == Deq.OK.value
        out.append((res[1], res[3] if ok else 0, res[4] if ok else 0))  # outcome, rank, size
    after = {k: v.packets for k, v in read_counters(obj).items()}
    counts = Counter({k: n - before.get(k, 0) for k, n in after.items()})
    return out, +counts


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
    pair: tuple[str, BpfObject], trace: list[Arrive | Step]
) -> None:
    name, obj = pair
    reset(name, obj)
    kernel_out, kernel_counts = run_kernel(obj, trace)
    model_out, model_counts = run_model(SCHEDULERS[name][0](), trace)
    assert kernel_out == model_out
    assert kernel_counts == model_counts
