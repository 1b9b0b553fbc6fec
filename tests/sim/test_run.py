"""What a run leaves in its records: every packet gets an outcome."""

from __future__ import annotations

from collections import Counter

from xdpq.codegen.python import load_scheduler
from xdpq.ir.link import Bql
from xdpq.library import library_path
from xdpq.sim import workload as wl
from xdpq.sim.run import DROPPED, Simulation

RATE = 10_000_000


def test_packets_still_queued_at_the_end_are_unfinished() -> None:
    # Twice what the link carries, cut off halfway: the queue is full at the end.
    arrivals = list(wl.constant(2 * RATE / 8000, 1000, 500))  # 100 ms of arrivals
    sim = Simulation(load_scheduler(library_path("fifo")), RATE, bql=Bql.parse("fixed:3000"))
    result = sim.run(arrivals, until=50_000_000)
    outcomes = Counter(r.outcome for r in result.records)
    assert "" not in outcomes
    assert outcomes["unfinished"] > 0 and outcomes["delivered"] > 0
    for r in result.records:
        assert (r.departed != DROPPED) == (r.outcome == "delivered")
    # Without an end, what was queued gets through.
    rest = Simulation(load_scheduler(library_path("fifo")), RATE, bql=Bql.parse("fixed:3000"))
    assert "unfinished" not in {r.outcome for r in rest.run(arrivals).records}
