"""Random scheduling trees agree in the kernel and the simulator, packet by packet.

Hypothesis writes a tree and a program over it (tests/tree_programs.py) and
traces. Each tree is compiled once and runs TRACES traces: the kernel
(kern/tree.h, through the stepper on a virtual clock) and the simulator
(xdpq/queues/tree.py) give the same dequeues, drops and reasons. With the
defaults, 200 trees of 4 traces each: 800 tree and trace pairs; and two trees
at the depth limit (8 levels). XDPQ_TREES and XDPQ_TREE_TRACES raise them.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_sim_vs_kernel import Pair, agree, events
from tree_programs import trees

from xdpq.codegen.build import compile_source
from xdpq.codegen.python import scheduler_factory
from xdpq.ir.outcomes import Deq
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.stepper import Stepper

pytestmark = pytest.mark.kernel

TREES = int(os.environ.get("XDPQ_TREES", 200))
TRACES = int(os.environ.get("XDPQ_TREE_TRACES", 4))


def _agree(source: str, data: st.DataObject, traces: int) -> None:
    compiled = compile_source(source, "tree.xdpq")
    with Stepper(compiled.obj_path) as kernel:
        pair = Pair(compiled.program, kernel, scheduler_factory(compiled.program))
        for _ in range(traces):
            agree(pair, data, data.draw(events, label="trace"))


# No shrinking: every example compiles a program, and a failure prints its tree.
@settings(max_examples=TREES, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=trees(), data=st.data())
def test_random_trees_agree(source: str, data: st.DataObject) -> None:
    _agree(source, data, TRACES)


@settings(max_examples=2, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=trees(depths=(8, 8), fans=(0, 1, 2)), data=st.data())
def test_trees_of_the_deepest_kind_load_and_agree(source: str, data: st.DataObject) -> None:
    """At the depth limit every walk is bounded for the verifier, and still right."""
    _agree(source, data, 3)


@settings(max_examples=int(os.environ.get("XDPQ_RBARRAY_TREES", 12)), deadline=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=trees(depths=(2, 4), fans=(1, 2, 3, 4), leaves=("rbtree",)), data=st.data())
def test_trees_over_rbtree_arrays_agree(source: str, data: st.DataObject) -> None:
    """Leaves that are arrays of rbtrees (one kernel rbtree per array, each queue's
    entries found by a search from its root) keep each queue's own order."""
    _agree(source, data, TRACES)


# At the limits: ten rbtree declarations (the kernel's most roots beside the lock), one
# of them an array as large as an array may be, under a parent ranked by each queue's
# own state and head packet; the others at the top, served first.
RBTREES_AT_THE_LIMITS = (
    "scheduler many\nqueue root: pifo(range = 1024) of flows\n"
    "queue flows[4096]: rbtree(capacity = 4)\n"
    + "".join(f"queue t{i}: rbtree(capacity = 3)\n" for i in range(9))
    + "state global { n: count = 0 }\nstate per flows { sent: count = 0 }\n"
    "on enqueue {\n  n = n + 1\n  if ip.dscp == 9 {\n    enqueue t8 rank l4.sport % 4\n  }\n"
    "  enqueue flows[l4.sport % 5 * 1000 + l4.dport] rank pkt.len / 100B\n}\n"
    "on ready flows(i) {\n  enqueue root rank (flows[i].sent + flows[i].head / 500B) % 7\n}\n"
    "on dequeue(p) {\n  flows[p.index].sent = flows[p.index].sent + 1\n}\n")


@settings(max_examples=1, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_rbtrees_at_the_limits_load_and_agree(data: st.DataObject) -> None:
    _agree(RBTREES_AT_THE_LIMITS, data, TRACES)


# Eight levels, three of them on virtual clocks, with waits, per-queue state and a
# second child under the top: its ingress took more than the verifier's million
# instructions while the dequeue was checked again in every state the ingress reached
# it in (before xdpq_sched_dequeue became a global function).
DEEPEST_WITH_CLOCKS = ("""scheduler tree
queue q0: fifo(clock = v0) of q1, side
queue q1: pifo(range = 64) of q2
queue q2: pifo(range = 64) of q3
queue q3: pifo(range = 64) of q4
queue q4[1]: fifo(clock = v4) of q5
queue q5[1][1]: pifo(range = 1024) of q6
queue q6[1][1][1]: pifo(range = 1024, clock = v6) of q7
queue q7[1][1][1][1]: fifo(capacity = 8)
queue side: fifo(capacity = 8)
state global { n: count = 0 }
state global { m: count = 0 }
state global { c: signed count = -3 }
state global { v0: count = 0 }
state global { v4: count = 0 }
state global { v6: count = 0 }
state per flow(ip.src, l4.sport) { seen: count = 0 }
state per q6 { tat: time = 0 }
on enqueue {
  n = n + 1
  flow.seen = flow.seen + 1
  c = c - ip.dscp + l4.sport % 7
  if ip.dscp == 46 and n % 3 == 0 {
    drop noisy
  }
  if ip.dscp >= 40 {
    enqueue side rank n
  }
  enqueue q7[l4.dport][hash(ip.src, l4.sport)][l4.sport][n] rank n / 3 at now
}
on ready q1 {
  enqueue q0 rank n % 4 at v0
}
on ready q2 {
  enqueue q1 rank n at now + 20us
}
on ready q3 {
  enqueue q2 rank m at now + (n % 3) * 10us
}
on ready q4(i0) {
  enqueue q3 rank n % 4
}
on ready q5(i0, i1) {
  enqueue q4 rank m at v4 + 2
}
on ready q6(i0, i1, i2) {
  enqueue q5 rank m at max(q6[i0][i1][i2].tat, 30us) - 30us
}
on ready q7(i0, i1, i2, i3) {
  enqueue q6 rank n % 4 at v6 + 2
}
on dequeue(p) {
  m = m + p.len / 500B + max(c % 5, 0)
  c = min(c + p.len / 100B, 30)
  v0 = max(v0 + 1, p.q0.rank % 7)
  v4 = max(v4 + 1, p.q4.rank % 7)
  v6 = max(v6 + 1, p.q6.rank % 7)
  m = m + p.q7.index + p.q0.rank % 3
"""
    "  q6[p.q4.index][p.q5.index][p.q6.index].tat ="
    " max(q6[p.q4.index][p.q5.index][p.q6.index].tat, now) + p.len / 100Mbit\n"
    """  if p.len > 1400B and n % 4 == 0 {
    drop aqm
  }
}
""")


@settings(max_examples=1, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_deepest_tree_on_three_clocks_loads_and_agrees(data: st.DataObject) -> None:
    _agree(DEEPEST_WITH_CLOCKS, data, TRACES)


# A random tree of the 200 on which the ingress, with xdpq_cut_begin inlined at each of
# its call sites, went past the verifier's million instructions (280k with it a global
# function, kern/datapath.h).
CUT_THROUGH_HEAVY = ("""scheduler tree
queue q0: pifo(range = 64) of q1, side
queue q1[4]: fifo(clock = v1) of q2
queue q2[4][1]: pifo(range = 1024) of q3
queue q3[4][1][2]: pifo(capacity = 100, range = 128, base = 2)
queue side: fifo(capacity = 8)
state global { n: count = 0 }
state global { m: count = 0 }
state global { c: signed count = -3 }
state global { v1: count = 0 }
state per flow(ip.src, l4.sport) { seen: count = 0 }
state per q1 { tat: time = 0 }
state per q3 { tat: time = 0 }
on enqueue {
  n = n + 1
  flow.seen = flow.seen + 1
  c = c - ip.dscp + l4.sport % 7
  if ip.dscp == 46 and n % 3 == 0 {
    drop noisy
  }
  if c / 3 < -40 and c % 4 != -1 {
    c = c + 20
    drop debt
  }
  if ip.dscp >= 40 {
    enqueue side rank n
  }
  enqueue q3[l4.sport][l4.sport][n] rank l4.sport % 8 at now + pkt.len / 1B * 100ns
}
on ready q1(i0) {
  enqueue q0 rank m at max(q1[i0].tat, 30us) - 30us
}
on ready q2(i0, i1) {
  enqueue q1 rank n % 4 at v1 + n % 4
}
on ready q3(i0, i1, i2) {
  enqueue q2 rank 0 at max(q3[i0][i1][i2].tat, 30us) - 30us
}
on dequeue(p) {
  m = m + p.len / 500B + max(c % 5, 0)
  c = min(c + p.len / 100B, 30)
  v1 = max(v1 + 1, p.q1.rank % 7)
  m = m + p.q3.index + p.q0.rank % 3
  q1[p.q1.index].tat = max(q1[p.q1.index].tat, now) + p.len / 100Mbit
"""
    "  q3[p.q1.index][p.q2.index][p.q3.index].tat ="
    " max(q3[p.q1.index][p.q2.index][p.q3.index].tat, now) + p.len / 100Mbit\n"
    """  if p.len > 1400B and n % 4 == 0 {
    drop aqm
  }
}
""")


@settings(max_examples=1, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_tree_heavy_on_the_cut_through_paths_loads_and_agrees(data: st.DataObject) -> None:
    _agree(CUT_THROUGH_HEAVY, data, TRACES)


PER_QUEUE_STATE_2D = """scheduler shaped
queue f[3][4]: fifo()
queue t[3]: fifo() of f
queue r: fifo() of t
state per f { tat: time = 0 }
on enqueue { enqueue f[ip.dscp][l4.sport] }
on ready f(i, j) { enqueue t at max(f[i][j].tat, 30us) - 30us }
on dequeue(p) {
  f[p.t.index][p.f.index].tat = max(f[p.t.index][p.f.index].tat, now) + p.len / 100Mbit
}
"""


def test_per_queue_state_of_a_two_dimensional_array_loads() -> None:
    """Each index of f[i][j] was bounded, and the row-major sum was not: clang rebuilt
    it from the unbounded parts, and the verifier refused the store into its state."""
    compiled = compile_source(PER_QUEUE_STATE_2D, "shaped.xdpq")
    with Stepper(compiled.obj_path) as kernel:
        kernel.ingress(frame(FrameSpec(1000, dscp=1, sport=2)), 0)
        assert kernel.step(1).result == Deq.OK.value
