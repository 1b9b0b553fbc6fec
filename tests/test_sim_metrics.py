"""Simulator metrics and the fairness of the scheduler twins, offline."""

from __future__ import annotations

import csv
import json
import statistics
from itertools import chain
from pathlib import Path

import pytest

from xdpq.codegen.python import load_scheduler, scheduler_factory
from xdpq.ir.link import Bql
from xdpq.library import fifo_program, library_path
from xdpq.sim.metrics import jain, percentile, summarize, write_csv, write_json
from xdpq.sim.run import Result, Simulation
from xdpq.sim.workload import constant, poisson


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert [percentile(values, q) for q in (50, 99, 99.9, 100)] == [50, 99, 100, 100]
    assert percentile([], 50) == 0


def test_jain_index_bounds() -> None:
    assert jain([5.0, 5.0, 5.0]) == pytest.approx(1.0)
    assert jain([9.0, 0.0, 0.0]) == pytest.approx(1 / 3)


def three_weighted_flows(bql: Bql) -> Result:
    """STFQ with weights 1:2:3 by DSCP class; each flow arrives twice as fast as
    the whole 1 Gbit/s link, 1000 packets of 1000 B: all fit the queue, and the
    weight-1 flow's backlog fits stfq's flow_limit (1 MiB)."""
    rate = 1_000_000_000
    sched = load_scheduler(library_path("stfq"), {"weight": [1, 2, 3, 1, 1, 1, 1, 1]})
    arrivals = sorted(
        chain.from_iterable(
            constant(rate / 4000, 1000, 1000, flow=f, dscp=8 * f) for f in range(3)
        ),
        key=lambda a: a.time,
    )
    return Simulation(sched, rate_bps=rate, bql=bql).run(arrivals)


def test_stfq_shares_follow_weights_within_one_percent_while_backlogged() -> None:
    # Three flows, weights 1:2:3 by DSCP class, each arriving faster than the
    # whole link and held in full (no tail drop deciding the mix).
    result = three_weighted_flows(Bql.parse("fixed:3000"))
    assert result.counters["enqueued"] == 3000
    departed = sorted(
        (r for r in result.records if r.outcome == "delivered"), key=lambda r: r.departed
    )
    first = departed[:1500]  # the weight-3 flow is still backlogged until then
    for flow, weight in ((0, 1), (1, 2), (2, 3)):
        share = sum(r.size for r in first if r.flow == flow) / sum(r.size for r in first)
        assert abs(share - weight / 6) < 0.01


def test_without_bql_the_device_queue_makes_stfq_a_fifo() -> None:
    result = three_weighted_flows(Bql.parse("off"))
    departed = sorted(
        (r for r in result.records if r.outcome == "delivered"), key=lambda r: r.departed
    )[:1500]
    shares = [sum(r.size for r in departed if r.flow == f) / 1_500_000 for f in range(3)]
    assert shares == pytest.approx([1 / 3] * 3, abs=0.01)  # arrival order, not weights


def test_fifo_latency_and_outputs(tmp_path: Path) -> None:
    rate = 100_000_000
    sim = Simulation(
        scheduler_factory(fifo_program(64))(),
        rate_bps=rate,
        propagation_ns=5000,
        bql=Bql.parse("fixed:3000"),
    )
    result = sim.run(poisson(rate / 8000 * 1.5, 1000, 5000, seed=3, exponential_sizes=False))
    s = summarize(result, rate, propagation_ns=5000)
    assert s.counters["drop_queue_full"] > 0  # 150 % load: the queue overflows
    assert s.delivered + s.counters["drop_queue_full"] == s.packets == 5000
    assert s.latency_p50_ns >= 5000 + 80_000  # propagation + one serialization
    write_json(s, tmp_path / "summary.json")
    write_csv(result.records, tmp_path / "records.csv")
    assert json.loads((tmp_path / "summary.json").read_text())["packets"] == 5000
    rows = list(csv.DictReader((tmp_path / "records.csv").open()))
    assert len(rows) == 5000
    assert statistics.fmean(int(r["size"]) for r in rows) == 1000
