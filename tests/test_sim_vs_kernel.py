"""The kernel and the simulator run the same program and agree, packet by packet.

For every library scheduler, hypothesis generates traces (flows with their
fields, packet sizes, arrival and dequeue times) and parameter values. The
kernel runs each trace through the generated BPF object (``xdpq_ingress`` and
``xdpq_step`` on a virtual clock); the simulator through the Python class
generated from the same IR, behind the datapath's bypass FIFO
(``xdpq.sim.bypass``), since traces carry frames no scheduler claims (ARP, a
garbled IPv4 header). Every dequeue must give the same packet (same outcome,
rank and size, same eligibility time), and every outcome must land in the
same counter and drop reason.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from xdpq import ir
from xdpq.codegen.build import compile_file
from xdpq.codegen.python import scheduler_factory
from xdpq.ir.outcomes import Deq, enqueue_counters
from xdpq.packet import parse
from xdpq.queues import Enq
from xdpq.runtime.params import write_params
from xdpq.sim.bypass import Bypassed
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.stepper import Stepper

pytestmark = pytest.mark.kernel

LIBRARY = sorted(p.stem for p in (REPO / "schedulers").glob("*.xdpq"))
EXAMPLES = int(os.environ.get("XDPQ_EXAMPLES", 200))

# Flows: addresses, ports, protocol, DSCP (the class of prio, stfq, hpfq),
# IPv6 flow labels (srpt's remaining size).
FLOWS = [
    FrameSpec(0, sport=1000, dscp=0),
    FrameSpec(0, sport=1001, dscp=8),
    FrameSpec(0, sport=1002, dscp=26, proto=6),
    FrameSpec(0, sport=1003, dscp=46),
    FrameSpec(0, src="10.0.0.9", sport=1004, dscp=16),
    FrameSpec(0, src="fd00::1", dst="fd00::2", sport=1005, flow_label=3),
    FrameSpec(0, src="fd00::1", dst="fd00::2", sport=1006, flow_label=700, dscp=40),
]
# Frames no scheduler claims, as further flows: ARP, and IPv4 with a bad version.
UNCLAIMED = [
    lambda size: frame(FrameSpec(size))[:12] + b"\x08\x06" + bytes(size - 14),
    lambda size: bytes(12) + b"\x08\x00\x35" + bytes(size - 15),
]


@dataclass(frozen=True)
class Arrive:
    flow: int
    size: int
    count: int = 1  # a burst: queues build up, and AQM has something to act on


@dataclass(frozen=True)
class Step:
    dt: int
    count: int = 1  # dequeues, dt apart: a standing queue drains over time


events = st.lists(
    st.one_of(
        st.builds(Arrive, st.integers(0, len(FLOWS) + len(UNCLAIMED) - 1),
                  st.integers(64, 1514),
                  st.sampled_from([1, 1, 1, 2, 5, 20])),
        st.builds(Step, st.one_of(st.sampled_from([0, 10_000, 1_000_000, 10_000_000]),
                                  st.integers(0, 20_000), st.integers(0, 60_000_000)),
                  st.sampled_from([1, 1, 1, 3, 10])),
    ),
    max_size=60,
)


def param_values(prog: ir.Program) -> st.SearchStrategy[dict[str, Any]]:
    def one(p: ir.Param) -> st.SearchStrategy[int]:
        return st.one_of(st.sampled_from([p.low, p.default, p.high]),
                         st.integers(p.low, p.default), st.integers(p.low, p.low * 8))

    return st.fixed_dictionaries({
        p.name: st.lists(one(p), min_size=p.count, max_size=p.count) if p.count else one(p)
        for p in prog.params})


@dataclass
class Pair:
    prog: ir.Program
    kernel: Stepper
    make: Callable[..., Any]


@pytest.fixture(scope="module", params=LIBRARY)
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    compiled = compile_file(REPO / "schedulers" / f"{request.param}.xdpq")
    with Stepper(compiled.obj_path) as kernel:
        yield Pair(compiled.program, kernel, scheduler_factory(compiled.program))


def frame_of(ev: Arrive) -> bytes:
    if ev.flow >= len(FLOWS):
        return UNCLAIMED[ev.flow - len(FLOWS)](ev.size)
    spec = FLOWS[ev.flow]
    return frame(FrameSpec(ev.size, spec.src, spec.dst, spec.sport, spec.dport, spec.proto,
                           spec.dscp, spec.flow_label))


Outcomes = list[tuple[int, int, int, int]]


def run_kernel(kernel: Stepper, trace: list[Arrive | Step]) -> tuple[Outcomes, Counter[str]]:
    before, reasons_before = kernel.packets(), kernel.reasons()
    now, out = 0, []
    for ev in trace:
        if isinstance(ev, Arrive):
            for _ in range(ev.count):
                kernel.ingress(frame_of(ev), now)
            continue
        for _ in range(ev.count):
            now += ev.dt
            got = kernel.step(now)
            if got.result in (Deq.OK.value, Deq.DROP.value):
                out.append((got.result, got.rank, got.len, 0))
            else:
                out.append((got.result, 0, 0, got.when if got.result == Deq.LATER.value else 0))
    counts = Counter({k: n - before.get(k, 0) for k, n in kernel.packets().items()})
    for name, (n, _) in kernel.reasons().items():
        counts[f"reason:{name}"] = n - reasons_before.get(name, (0, 0))[0]
    return out, +counts


def run_model(sched: Any, trace: list[Arrive | Step]) -> tuple[Outcomes, Counter[str]]:
    """``sched`` behind the bypass FIFO, as the simulator runs it (its ``admit`` is its
    classify and enqueue: tests/sim/test_admit.py)."""
    datapath = Bypassed(sched)
    now, out, counts, item = 0, [], Counter[str](), 0
    for ev in trace:
        if isinstance(ev, Arrive):
            pkt = parse(frame_of(ev))
            for _ in range(ev.count):
                item += 1
                res = datapath.admit(pkt, item, now)
                if isinstance(res, Enq):
                    counts.update(enqueue_counters(res))
                else:
                    counts[res.value] += 1
            continue
        for _ in range(ev.count):
            now += ev.dt
            d = datapath.dequeue(now)
            out.append((d.outcome.value, d.rank, d.size, d.when))
            if d.outcome is Deq.OK:
                counts["dequeued"] += 1
            elif d.outcome is Deq.DROP:
                counts["drop_aqm"] += 1
    for name, (n, _) in sched.reasons.items():
        counts[f"reason:{name}"] = n
    return out, +counts


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), trace=events)
def test_kernel_and_simulator_agree(pair: Pair, data: st.DataObject,
                                    trace: list[Arrive | Step]) -> None:
    agree(pair, data, trace)


def agree(pair: Pair, data: st.DataObject, trace: list[Arrive | Step]) -> None:
    """Drawn parameter values, and the trace through both: the same dequeues, drops and
    counters."""
    params = data.draw(param_values(pair.prog), label="params")
    pair.kernel.reset()
    write_params(pair.kernel.obj, pair.prog, params)
    kernel_out, kernel_counts = run_kernel(pair.kernel, trace)
    model_out, model_counts = run_model(pair.make(params), trace)
    assert kernel_out == model_out
    assert kernel_counts == model_counts


def test_codel_drops_agree() -> None:
    """A standing queue under fq_codel: CoDel's drop path, the same on both sides
    (random traces reach it in a few percent of examples; this one always does)."""
    compiled = compile_file(REPO / "schedulers" / "fq_codel.xdpq")
    params = {"target": 1000, "interval": 1_000_000}
    trace: list[Arrive | Step] = [Arrive(0, 1000, 30), Arrive(3, 200, 2),
                                  Step(3_000_000, 12), Arrive(0, 1500, 5), Step(700_000, 20)]
    with Stepper(compiled.obj_path) as kernel:
        write_params(kernel.obj, compiled.program, params)
        kernel_out, kernel_counts = run_kernel(kernel, trace)
    model_out, model_counts = run_model(scheduler_factory(compiled.program)(params), trace)
    assert kernel_counts["drop_aqm"] >= 5
    assert kernel_counts["reason:codel"] == kernel_counts["drop_aqm"]
    assert (kernel_out, kernel_counts) == (model_out, model_counts)


TWO_HIERARCHIES = """scheduler two
queue a[4]: fifo(capacity = 100)
queue pa: fifo(capacity = 100) of a
queue b[4]: pifo(range = 64, capacity = 100)
queue pb: pifo(range = 64) of b
state global { n: count = 0 }
on enqueue {
  n = n + 1
  if ip.dscp >= 16 { enqueue a[l4.sport] } else { enqueue b[l4.sport] rank n }
}
on ready b(i) { enqueue pb rank i }
"""


def test_two_hierarchies_keep_their_tokens_apart(tmp_path: Any) -> None:
    """Two parents, each of its own array: queue i of one and queue i of the other
    are in their parents at once. Their tokens once shared one link (the number
    XDPQ_POOL_SLOTS + i), so one parent's list ran into the other's."""
    src = tmp_path / "two.xdpq"
    src.write_text(TWO_HIERARCHIES)
    compiled = compile_file(src)
    # sport 1000 and 1001 pick queues 0 and 1 of each array; dscp 26 goes to a, 0 to b.
    trace: list[Arrive | Step] = [Arrive(0, 100, 3), Arrive(2, 200, 3), Arrive(1, 300, 3),
                                  Arrive(4, 400, 2), Step(1000, 14)]
    with Stepper(compiled.obj_path) as kernel:
        kernel_out, kernel_counts = run_kernel(kernel, trace)
    model_out, model_counts = run_model(scheduler_factory(compiled.program)(), trace)
    assert kernel_counts["dequeued"] == 11
    assert (kernel_out, kernel_counts) == (model_out, model_counts)
