"""Programs nobody wrote for the library run the same in the fast simulator as in the
reference: the first programs of the hostile corpus that pass check (C keywords and
xdpq's own mangled names as names, deep expressions, hierarchies, per-flow and
per-queue state) build into the fast simulator's C, and drawn traces through both
give the same records, counters and drops."""

from __future__ import annotations

import os
from dataclasses import asdict

import pytest
from hostile_programs import accepted, outcome, program
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_vs_kernel import FLOWS, UNCLAIMED, Arrive, frame_of

from xdpq import ir
from xdpq.codegen.python import scheduler_factory
from xdpq.ir.link import Bql
from xdpq.packet import parse
from xdpq.resources import cache_dir
from xdpq.sim.fast import PackedRecords, _library, source
from xdpq.sim.run import Arrival, FlowPacket, Simulation

PROGRAMS = 12
EXAMPLES = int(os.environ.get("XDPQ_EXAMPLES", 200)) // PROGRAMS + 5


@pytest.fixture(scope="module", params=accepted(PROGRAMS))
def hostile(request: pytest.FixtureRequest) -> ir.Program:
    prog = outcome(*program(request.param)).program
    assert prog is not None
    built = _library(source(prog), cache_dir())
    assert not isinstance(built, str), built
    return prog


sends = st.lists(st.tuples(st.sampled_from([0, 0, 1_000, 50_000, 3_000_000]),
                           st.integers(0, len(FLOWS) + len(UNCLAIMED) - 1),
                           st.integers(64, 1514)), max_size=150)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trace=sends, bql=st.sampled_from(["adaptive", "fixed:3000", "off"]))
def test_hostile_programs_run_the_same_fast(hostile: ir.Program,
                                            trace: list[tuple[int, int, int]],
                                            bql: str) -> None:
    packets = {}
    arrivals, now = [], 0
    for dt, flow, size in trace:
        now += dt
        if (flow, size) not in packets:
            packets[flow, size] = FlowPacket.of(parse(frame_of(Arrive(flow, size))), flow)
        arrivals.append(Arrival(now, packets[flow, size]))
    make = scheduler_factory(hostile)
    runs = []
    for fast in (False, True):
        sched = make()
        result = Simulation(sched, 10**8, bql=Bql.parse(bql), fast=fast).run(arrivals)
        if fast:
            assert isinstance(result.records, PackedRecords), "the fast path did not run"
        runs.append(([asdict(r) for r in result.records], list(result.counters.items()),
                     result.duration_ns, result.bql_limit, sched.dropped, sched.reasons))
    assert runs[0] == runs[1]
