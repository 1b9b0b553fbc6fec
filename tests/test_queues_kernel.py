"""The kernel's queue maps against the reference model, step by step.

Hypothesis drives random sequences of enqueue(rank) / peek / dequeue through
BPF_PROG_RUN of kern/test/queue_test.bpf.c and through xdpq.queues: every
outcome, entry, length and byte count must match. Ranks are drawn to hit 0,
2^64-1, the PIFO window edges (relative to the model's current base) and
full queues.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from conftest import REPO
from xdpq.bpf import BpfObject, Program, compile_bpf, xdp_ctx
from xdpq.bpf.maps import u32
from xdpq.queues import RANK_MAX, Enq, Fifo, Pifo, RBTree
from xdpq.runtime.counters import read_counters

pytestmark = pytest.mark.kernel

CMD = struct.Struct("=IIQIIiIQ")
ENQUEUE, PEEK, DEQUEUE, ALLOC, RELEASE = range(5)
FIFO, PIFO, RBTREE, FIXED = range(4)
FIXED_BASE = 100  # kern/test/queue_test.bpf.c TEST_BASE
POOL = 1024
CONFIGS = {"small": (8, 64), "wide": (200, 128)}  # capacity, PIFO range


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def queue_obj(request: pytest.FixtureRequest) -> Iterator[tuple[BpfObject, int, int]]:
    cap, rng = CONFIGS[request.param]
    path = compile_bpf(REPO / "kern/test/queue_test.bpf.c", {"TEST_CAP": cap, "TEST_RANGE": rng})
    with BpfObject(path) as obj:
        obj.load()
        yield obj, cap, rng


def command(prog: Program, op: int, queue: int = 0, rank: int = 0, slot: int = 0, size: int = 0):
    data = CMD.pack(op, queue, rank, slot, size, 0, 0, 0)
    res = prog.run(data, ctx=xdp_ctx(len(data)))
    assert res.retval == 2, "queue_test returned something other than XDP_PASS"
    return CMD.unpack(res.data[: CMD.size])


def ranks_near(base: int, rng: int) -> st.SearchStrategy[int]:
    edges = [base - 1, base, base + rng - 1, base + rng, base + 2 * rng - 1, base + 2 * rng]
    return st.sampled_from([r for r in edges if 0 <= r <= RANK_MAX])


def machine_for(obj: BpfObject, queue: int, cap: int, rng: int) -> type[RuleBasedStateMachine]:
    prog = obj.prog("queue_test")

    class QueueMachine(RuleBasedStateMachine):
        @initialize()
        def fresh(self) -> None:
            # Drain what an earlier example left: an empty queue is a fresh one.
            while command(prog, DEQUEUE, queue)[5] == 0:
                pass
            self.model = {FIFO: lambda: Fifo(cap), PIFO: lambda: Pifo(cap, rng),
                          RBTREE: lambda: RBTree(cap),
                          FIXED: lambda: Pifo(cap, rng, FIXED_BASE)}[queue]()
            self.slot = 0

        def _enqueue(self, rank: int, size: int) -> None:
            self.slot = (self.slot + 1) % POOL
            got = command(prog, ENQUEUE, queue, rank, self.slot, size)
            want = self.model.enqueue(rank, self.slot, size)
            assert Enq(got[5]) is want, f"enqueue rank {rank}"
            self._compare_sizes(got)

        def _compare_sizes(self, got: tuple[int, ...]) -> None:
            assert got[6] == len(self.model), "queue length"
            assert got[7] == self.model.bytes, "queued bytes"

        @rule(rank=st.integers(0, 3 * 128), size=st.integers(1, 2000))
        def enqueue_small(self, rank: int, size: int) -> None:
            self._enqueue(rank, size)

        @rule(rank=st.one_of(st.just(0), st.just(RANK_MAX), st.integers(0, RANK_MAX)))
        def enqueue_extreme(self, rank: int) -> None:
            self._enqueue(rank, 64)

        @rule(data=st.data())
        def enqueue_at_window_edge(self, data: st.DataObject) -> None:
            base = self.model.base if isinstance(self.model, Pifo) else 0
            self._enqueue(data.draw(ranks_near(base, rng)), 100)

        @rule()
        def peek(self) -> None:
            got = command(prog, PEEK, queue)
            want = self.model.peek()
            assert (got[5] == 0) == (want is not None)
            if want is not None:
                assert (got[2], got[3], got[4]) == (want.rank, want.slot, want.size)

        @rule()
        def dequeue(self) -> None:
            got = command(prog, DEQUEUE, queue)
            want = self.model.dequeue()
            assert (got[5] == 0) == (want is not None)
            if want is not None:
                assert (got[2], got[3], got[4]) == (want.rank, want.slot, want.size)
            self._compare_sizes(got)

        @invariant()
        def never_over_capacity(self) -> None:
            assert len(self.model) <= cap

    return QueueMachine


@pytest.mark.parametrize("queue", [FIFO, PIFO, RBTREE, FIXED],
                         ids=["fifo", "pifo", "rbtree", "fixed-base pifo"])
def test_kernel_queue_matches_model(queue_obj: tuple[BpfObject, int, int], queue: int) -> None:
    obj, cap, rng = queue_obj
    machine = machine_for(obj, queue, cap, rng)
    machine.TestCase.settings = settings(
        max_examples=150,  # per configuration: 300 per queue type over both
        stateful_step_count=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine.TestCase().runTest()


def test_slot_pool_allocates_each_slot_once_and_counts_exhaustion(
    queue_obj: tuple[BpfObject, int, int],
) -> None:
    obj, _, _ = queue_obj
    prog = obj.prog("queue_test")
    free = obj.map("xdpq_free")
    while free.pop() is not None:
        pass
    for slot in range(POOL):
        free.push(u32(slot))
    before = read_counters(obj)["drop_no_slot"].packets
    got = [command(prog, ALLOC) for _ in range(POOL)]
    assert all(g[5] == 0 for g in got)
    assert sorted(g[3] for g in got) == list(range(POOL))
    assert obj.section(".bss")["xdpq_slots_in_use"] == POOL
    assert command(prog, ALLOC)[5] != 0  # empty pool
    assert read_counters(obj)["drop_no_slot"].packets == before + 1
    for g in got:
        command(prog, RELEASE, slot=g[3])
    assert obj.section(".bss")["xdpq_slots_in_use"] == 0
    assert obj.section(".bss")["xdpq_slots_peak"] >= POOL
    assert command(prog, RELEASE, slot=0)[5] == 0  # one too many: the stack is full
    assert read_counters(obj)["slot_free_fail"].packets >= 1
