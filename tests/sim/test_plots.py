"""Plots: every figure a run allows is a real, non-empty PNG."""

from __future__ import annotations

from pathlib import Path

from xdpq.codegen.python import load_scheduler
from xdpq.ir.link import Bql
from xdpq.library import library_path
from xdpq.sim.metrics import completions
from xdpq.sim.plots import SweepPoint, fct_by_size, latency_cdf, plot_run, sweep
from xdpq.sim.run import Record, Simulation
from xdpq.sim.workload import SizeCdf, flow_sizes, merge, poisson

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG) and len(data) > 5000


def test_plot_run_writes_every_plot(tmp_path: Path) -> None:
    rate = 100_000_000
    cdf = SizeCdf("s", (3000.0, 60_000.0), (0.0, 1.0))
    arrivals = merge(
        poisson(2000, 500, None, seed=1, until_ns=200_000_000, flow=10**6),
        flow_sizes(cdf, 0.5, rate, seed=2, until_ns=200_000_000),
    )
    result = Simulation(
        load_scheduler(library_path("fifo")), rate, bql=Bql.parse("fixed:3000")
    ).run(arrivals)
    done = [c for c in completions(result.records, rate) if c.flow < 10**6]
    assert len(done) > 20
    files = plot_run(result.records, tmp_path / "out", done=done)
    assert sorted(p.name for p in files) == [
        "fct.png",
        "latency_cdf.png",
        "occupancy.png",
        "throughput.png",
    ]
    assert all(is_png(p) for p in files)


def test_nothing_to_plot_is_no_file(tmp_path: Path) -> None:
    dropped = [Record(flow=0, size=100, arrived=0, outcome="drop_queue_full")]
    assert latency_cdf(dropped, tmp_path / "l.png") is None
    assert fct_by_size([], tmp_path / "f.png") is None
    assert plot_run(dropped, tmp_path) == []
    assert not list(tmp_path.glob("*.png"))


def test_sweep_plot(tmp_path: Path) -> None:
    points = [SweepPoint(f"fixed:{n}", 9.9e8, 1000 * n, 20_000 * n) for n in (1, 2, 10)]
    path = sweep(points, tmp_path / "s.png")
    assert path is not None and is_png(path)
