"""The simulator against queueing theory."""

from __future__ import annotations

import statistics

from xdpq.sim.handwritten import FifoScheduler
from xdpq.sim.run import Simulation
from xdpq.sim.workload import poisson


def test_fifo_with_poisson_arrivals_and_exponential_sizes_is_mm1() -> None:
    rate_bps, mean_size = 1_000_000_000, 1000
    mu = rate_bps / (8 * mean_size)  # packets per second the link serves
    lam = 0.5 * mu
    sim = Simulation(FifoScheduler(capacity=1 << 20), rate_bps=rate_bps)
    result = sim.run(poisson(lam, mean_size, count=200_000, seed=1))
    sojourn = [r.departed - r.arrived for r in result.records if r.outcome == "delivered"]
    assert len(sojourn) == 200_000
    expected_ns = 1e9 / (mu - lam)  # M/M/1 mean time in system
    assert abs(statistics.fmean(sojourn) / expected_ns - 1) < 0.03
