"""Programs nobody wrote for the library agree in the kernel and the simulator.

The hostile corpus (``hostile_programs.py``: odd names, odd numbers, deep
expressions, hierarchies, per-flow and per-queue state) holds programs that
pass check; the first of them are compiled by both back ends and run on the
same random traces as the library in ``tests/test_sim_vs_kernel.py``: every
dequeue, drop and counter must be the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hostile_programs import accepted, build, outcome, program
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_vs_kernel import Arrive, Pair, Step, agree, events

from xdpq.codegen.python import scheduler_factory
from xdpq.testing.stepper import Stepper

pytestmark = pytest.mark.kernel

PROGRAMS = 12
EXAMPLES = int(os.environ.get("XDPQ_EXAMPLES", 200)) // PROGRAMS + 1


@pytest.fixture(scope="module", params=accepted(PROGRAMS))
def hostile(request: pytest.FixtureRequest) -> Iterator[Pair]:
    source, filename = program(request.param)
    prog = outcome(source, filename).program
    assert prog is not None
    with Stepper(build(source, filename)) as kernel:
        yield Pair(prog, kernel, scheduler_factory(prog))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), trace=events)
def test_hostile_programs_agree(hostile: Pair, data: st.DataObject,
                                trace: list[Arrive | Step]) -> None:
    agree(hostile, data, trace)
