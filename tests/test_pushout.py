"""Push-out (``full = pushout``, docs/queues.md): a full queue drops its worst packet
for an arrival that ranks better, in the reference models, in the kernel (through
the stepper) and in both at once, packet by packet.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_vs_kernel import EXAMPLES, Arrive, Pair, Step, agree, run_kernel, run_model

from xdpq.bpf.maps import Var
from xdpq.codegen.build import compile_source
from xdpq.codegen.python import scheduler_factory
from xdpq.ir.outcomes import Deq
from xdpq.queues import Enq, Pifo, RBTree
from xdpq.queues.tree import NodeSpec, Tree
from xdpq.runtime.counters import read_counters
from xdpq.sim import workload as wl
from xdpq.sim.fast import PackedRecords
from xdpq.sim.run import Simulation
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.stepper import Stepper

# -- the reference models ---------------------------------------------------------


def test_rbtree_worst_is_the_highest_rank_and_the_last_of_equals() -> None:
    q = RBTree(4)
    for slot, rank in enumerate([5, 9, 1, 9]):
        q.enqueue(rank, slot, 100 + slot)
    assert q.evict(9) is None  # an equal rank loses: the queued one came first
    assert q.evict(8) == (9, 3, 103)  # the later of the two 9s
    assert q.evict(8) == (9, 1, 101)
    assert len(q) == 2 and q.bytes == 100 + 102
    assert q.evict(0) == (5, 0, 100)
    assert [q.dequeue().slot, q.dequeue()] == [2, None]  # type: ignore[union-attr]
    assert q.evict(0) is None


def test_pifo_worst_is_the_last_of_the_highest_bucket() -> None:
    q = Pifo(8, 64)
    q.enqueue(100, 0, 1)  # base 100
    q.enqueue(170, 1, 2)  # secondary window, offset 70
    q.enqueue(170, 2, 3)
    q.enqueue(150, 3, 4)  # primary, offset 50
    q.enqueue(30, 4, 5)  # clamped (170 - 30 spans more than two windows): served as 100
    assert q.evict(170) is None  # the same bucket: it would queue behind them
    assert q.evict(169) == (170, 2, 3)
    assert q.evict(169) == (170, 1, 2)
    assert q.evict(150) is None
    assert q.evict(0) == (150, 3, 4)  # a rank below base that cannot lower it counts as base
    assert q.evict(100) is None  # offset 0 against the bucket of offset 0
    assert len(q) == 2 and q.bytes == 1 + 5
    assert [e.slot for e in iter(q.dequeue, None)] == [0, 4]


def _leaf(kind: str, pushout: bool = True) -> Tree:
    """One leaf of capacity 3 under a round-robin parent, and a second leaf beside."""
    specs = [NodeSpec("fifo", 2, 0, -1), NodeSpec(kind, 3, 64, 0, pushout=pushout),
             NodeSpec("fifo", 3, 0, 0)]
    return Tree(specs, 1)


@pytest.mark.parametrize("kind", ["pifo", "rbtree"])
def test_a_full_leaf_pushes_out_and_keeps_its_counts_and_token(kind: str) -> None:
    t = _leaf(kind)
    for item, rank in enumerate([10, 30, 20]):
        assert t.push(1, item, rank, 100 + item, 0, 0) is Enq.OK
    t.place(1, 0, 0, 0)  # the leaf's token into the root
    assert t.push(1, 3, 30, 500, 0, 0) is Enq.FULL  # not better than the worst (30)
    assert t.push(1, 4, 15, 400, 0, 0) is Enq.PUSHOUT
    assert t.evicted == (30, 1, 101)
    assert (t.len[1], t.bytes[1], t.avail[1]) == (3, 100 + 102 + 400, 3)
    assert (t.len[0], t.avail[0]) == (1, 1)  # one token, as before
    got = []
    while (e := t.serve()) is not None:
        got.append(e[:2])
        if t.len[1]:
            t.place(1, 0, 0, 0)  # as the ready hook would, the token back
    assert got == [(10, 0), (15, 4), (20, 2)]
    assert t.bytes[1] == 0


def test_without_pushout_a_full_leaf_refuses() -> None:
    t = _leaf("pifo", pushout=False)
    for item in range(3):
        t.push(1, item, 30, 100, 0, 0)
    assert t.push(1, 3, 0, 100, 0, 0) is Enq.FULL


def test_a_clamped_arrival_that_pushes_out_says_both() -> None:
    """50 is below base and cannot lower it (220 - 50 spans more than two windows)."""
    t = Tree([NodeSpec("pifo", 2, 64, -1, pushout=True)], 1)
    t.push(0, 0, 200, 1, 0, 0)
    t.push(0, 1, 220, 1, 0, 0)
    assert t.push(0, 2, 50, 1, 0, 0) is Enq.CLAMPED_PUSHOUT
    assert t.evicted == (220, 1, 1)


# -- the kernel, through the stepper ------------------------------------------------

# Ranks from sizes (rank = len / 64): frames of 1280..1343 bytes share rank 20.
PROGRAM = """scheduler p
queue q: {kind}capacity = 4, full = pushout)
on enqueue {{
  enqueue q rank pkt.len / 64B
}}
"""
@pytest.fixture(scope="module", params=["pifo", "rbtree"])
def kernel(request: pytest.FixtureRequest) -> Iterator[Stepper]:
    kind = {"pifo": "pifo(range = 64, base = 0, ", "rbtree": "rbtree("}[request.param]
    compiled = compile_source(PROGRAM.format(kind=kind), "p.xdpq")
    with Stepper(compiled.obj_path) as s:
        s.program = compiled.program  # type: ignore[attr-defined]
        s.kind = request.param  # type: ignore[attr-defined]
        yield s


def _node(s: Stepper) -> tuple[int, ...]:
    """The first node's queue's bytes and len (struct xdpq_pifo or xdpq_rbtree, the
    union at its start), and the node's own bytes, len and avail: offsets from BTF."""
    raw = s.obj.section(".data.xq").read("xdpq_nodes")
    node = s.obj.struct("xdpq_node")
    queue = s.obj.struct(f"xdpq_{s.kind}")  # type: ignore[attr-defined]
    assert len(raw) % node[""].size == 0

    def get(v: Var) -> int:
        return int.from_bytes(raw[v.offset:v.offset + v.size], "little")

    return (get(queue["bytes"]), get(queue["len"]), get(node["bytes"]), get(node["len"]),
            get(node["avail"]))


@pytest.mark.kernel
def test_kernel_pushes_out_the_worst_and_counts_exactly(kernel: Stepper) -> None:
    kernel.reset()
    before = read_counters(kernel.obj)
    in_use = kernel.obj.section(".bss")["xdpq_slots_in_use"]
    for i, size in enumerate([640, 1280, 1300, 320]):  # ranks 10, 20, 20, 5
        kernel.ingress(frame(FrameSpec(size, sport=i)), now=i)
    kernel.ingress(frame(FrameSpec(960, sport=9)), now=5)  # rank 15: out goes the 1300
    kernel.ingress(frame(FrameSpec(1290, sport=9)), now=6)  # rank 20: not better, dropped
    counters = {k: (v.packets - before[k].packets, v.bytes - before[k].bytes)
                for k, v in read_counters(kernel.obj).items()}
    assert counters["drop_pushout"] == (1, 1300)
    assert counters["drop_queue_full"] == (1, 1290)
    queued = 640 + 1280 + 320 + 960
    assert counters["enqueued"] == (5, queued + 1300)
    bss = kernel.obj.section(".bss")
    assert (bss["xdpq_backlog"], bss["xdpq_backlog_bytes"]) == (4, queued)
    assert bss["xdpq_slots_in_use"] - in_use == 4  # the pushed-out slot is free again
    assert _node(kernel) == (queued, 4, queued, 4, 4)
    got = [kernel.step(now=10 + i) for i in range(5)]
    assert [(g.result, g.rank, g.len) for g in got] == [
        (Deq.OK.value, 5, 320), (Deq.OK.value, 10, 640), (Deq.OK.value, 15, 960),
        (Deq.OK.value, 20, 1280), (Deq.EMPTY.value, 0, 0)]
    assert _node(kernel) == (0, 0, 0, 0, 0)
    kernel.flush()
    assert bss["xdpq_slots_in_use"] == 0


@pytest.mark.kernel
def test_kernel_pushout_never_leaks_a_slot(kernel: Stepper) -> None:
    """A long run of arrivals into the full queue, with a dequeue after every third:
    every slot is queued, staged, or back in the pool."""
    kernel.reset()
    before = kernel.packets()
    rng = random.Random(13)
    for i in range(300):
        kernel.ingress(frame(FrameSpec(rng.randrange(64, 1515), sport=i)), now=i)
        if i % 3 == 2:
            kernel.step(now=i)
    got = {k: n - before.get(k, 0) for k, n in kernel.packets().items()}
    assert got["drop_pushout"] >= 10 and got["drop_queue_full"] >= 10
    assert got["enqueued"] + got["drop_queue_full"] == 300
    in_use = kernel.obj.section(".bss")["xdpq_slots_in_use"]
    assert in_use == got["enqueued"] - got["drop_pushout"]  # queued or staged
    assert kernel.flush() == in_use
    assert kernel.obj.section(".bss")["xdpq_slots_in_use"] == 0


# -- both at once -----------------------------------------------------------------

# Two push-out leaves under a parent, two of an rbtree array (one kernel rbtree,
# where each pushes out its own worst), and a push-out queue of its own: ranks from
# the size (PIFO windows of 64 ranks), and a fixed window where the DSCP is the rank.
TREE = """scheduler both
queue f[2]: pifo(range = 64, capacity = 3, full = pushout)
queue root: fifo() of f
queue e[2]: rbtree(capacity = 3, full = pushout)
queue eroot: fifo() of e
queue big: rbtree(capacity = 5, full = pushout)
queue prio: pifo(range = 64, base = 0, capacity = 2, full = pushout)
on enqueue {
  if ip.dscp >= 40 {
    enqueue prio rank ip.dscp / 8 + pkt.len / 512B
  } else if ip.dscp >= 16 {
    enqueue big rank pkt.len
  } else if ip.dscp >= 8 {
    enqueue e[pkt.len / 1B % 2] rank pkt.len
  } else {
    enqueue f[l4.sport] rank pkt.len / 32B
  }
}
"""

# Arrivals in bursts that overflow the queues, and a few dequeues between them.
arrive = st.builds(Arrive, st.integers(0, 6), st.integers(64, 1514), st.sampled_from([1, 3, 8]))
bursts = st.lists(
    st.one_of(arrive, arrive, arrive, st.builds(Step, st.sampled_from([0, 1000]),
                                                st.sampled_from([1, 2, 5]))),
    min_size=10, max_size=60)


@pytest.fixture(scope="module")
def both() -> Iterator[Pair]:
    compiled = compile_source(TREE, "both.xdpq")
    with Stepper(compiled.obj_path) as s:
        yield Pair(compiled.program, s, scheduler_factory(compiled.program))


@pytest.mark.kernel
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), trace=bursts)
def test_kernel_and_simulator_push_out_alike(both: Pair, data: st.DataObject,
                                             trace: list[Arrive | Step]) -> None:
    agree(both, data, trace)


@pytest.mark.kernel
def test_bursts_of_falling_sizes_push_out_alike(both: Pair) -> None:
    """Each queue overflows with ever better arrivals after a first good one (which
    sets a PIFO's window): push-outs on both sides, the same ones (the random traces
    above reach them in most examples)."""
    sizes = [700, 1500, 1400, 1300, 1200, 900, 800, 750, 720]
    trace: list[Arrive | Step] = [Arrive(f, size) for size in sizes
                                  for f in (0, 2, 3)] + [Step(1000, 12)]
    both.kernel.reset()
    kernel_out, kernel_counts = run_kernel(both.kernel, trace)
    model_out, model_counts = run_model(both.make(), trace)
    assert kernel_counts["drop_pushout"] == 6 + 4 + 1  # f[0], big, prio
    assert (kernel_out, kernel_counts) == (model_out, model_counts)


@pytest.mark.kernel
def test_a_queue_of_an_rbtree_array_pushes_out_its_own_worst(both: Pair) -> None:
    """e[0] and e[1] share one kernel rbtree: each full queue pushes out its own
    worst (1500 and 1501), never the tree's last, which belongs to the other."""
    sizes = [1501, 1500, 1401, 1400, 1301, 1300, 1201, 1200, 1100]
    trace: list[Arrive | Step] = [*(Arrive(1, size) for size in sizes), Step(1000, 8)]
    both.kernel.reset()
    kernel_out, kernel_counts = run_kernel(both.kernel, trace)
    model_out, model_counts = run_model(both.make(), trace)
    assert kernel_counts["drop_pushout"] == 3
    assert (kernel_out, kernel_counts) == (model_out, model_counts)


# -- the simulator: the reference run and the fast path -----------------------------


def test_simulated_pushout_drops_the_queued_packet_in_both_simulators() -> None:
    """Overload into the queues of TREE: the reference and the fast path (kern/'s own
    queues in userspace) push out the same packets, each recorded as drop_pushout, and
    every arrival ends in exactly one outcome."""
    prog = compile_source(TREE, "both.xdpq").program
    streams = [wl.poisson(20_000, 700, 400, seed=f, flow=f, dscp=(0, 20, 44)[f % 3])
               for f in range(6)]
    trace = list(wl.merge(*streams))
    runs = []
    for fast in (False, True):
        result = Simulation(scheduler_factory(prog)(), rate_bps=10**8, fast=fast).run(trace)
        assert isinstance(result.records, PackedRecords) is fast
        runs.append(([(r.outcome, r.departed) for r in result.records], result.counters))
    assert runs[0] == runs[1]
    outcomes, counters = runs[0]
    pushed = sum(o == "drop_pushout" for o, _ in outcomes)
    assert pushed == counters["drop_pushout"] > 0
    assert sum(o == "delivered" for o, _ in outcomes) + pushed + sum(
        o == "unfinished" for o, _ in outcomes) == counters["enqueued"]
