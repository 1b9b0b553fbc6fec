"""Plots: every figure a run allows is a real, non-empty PNG."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from conftest import REPO
from xdpq.cli import main
from xdpq.codegen.python import load_scheduler
from xdpq.ir.link import Bql
from xdpq.library import library_path
from xdpq.sim.metrics import completions
from xdpq.sim.plots import (
    fct_by_size,
    latency_cdf,
    latency_figure,
    occupancy,
    occupancy_figure,
    plot_run,
    sweep_figure,
)
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


def shown_labels(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_xticklabels()]


def assert_labels_apart(fig: Figure) -> None:
    """No two shown tick labels touch: side by side, their boxes are apart; turned,
    the strips they lie in are (parallel strips: apart across them or along them)."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert labels
    for a, b in itertools.pairwise(labels):
        if a.get_rotation() == 0:
            assert a.get_window_extent(renderer).x1 <= b.get_window_extent(renderer).x0
            continue
        angle = math.radians(a.get_rotation())
        along, across = (math.cos(angle), math.sin(angle)), (-math.sin(angle), math.cos(angle))
        (ax_, ay), (bx, by) = (fig.axes[0].transData.transform((t.get_position()[0], 0))
                               for t in (a, b))
        d_along = (bx - ax_) * along[0] + (by - ay) * along[1]
        d_across = abs((bx - ax_) * across[0] + (by - ay) * across[1])
        wa, ha, _ = renderer.get_text_width_height_descent(a.get_text(), a.get_fontproperties(),
                                                           ismath=False)
        wb, _, _ = renderer.get_text_width_height_descent(b.get_text(), b.get_fontproperties(),
                                                          ismath=False)
        # Anchored at their right ends: a spans [-wa, 0] along, b [d_along - wb, d_along].
        assert d_across >= ha or d_along - wb >= 0 or d_along <= -wa


def figure(labels: list[str], positions: list[float] | None, n_lines: int = 1) -> Figure:
    ys = [10.0 + i for i in range(len(labels))]
    lines = {None: ys} if n_lines == 1 else {f"seed={k}": [k * y for y in ys]
                                             for k in range(1, n_lines + 1)}
    return sweep_figure(labels, positions, lines, xlabel="x", ylabel="y", title="t")


@pytest.mark.parametrize(("values", "scale", "all_shown"), [
    ([10e6, 20e6, 40e6, 80e6], "linear", True),  # 8 times: a linear axis spaces them well
    ([1514, 3028, 15140, 60560, 262144], "log", True),  # 173 times
    ([1e6 * k for k in range(1, 41)], "log", False),  # 1 to 40 Mbit/s: 40 times
    ([0, 1000, 100_000], "linear", False),  # no 0 on a log axis; 0 and 1000 crowd
    ([1, 19.9], "linear", True),
    ([1, 20], "log", True),
])
def test_the_swept_axis_is_log_when_the_values_span_a_wide_range(
        values: list[float], scale: str, all_shown: bool) -> None:
    labels = [str(v) for v in values]
    fig = figure(labels, values)
    ax = fig.axes[0]
    assert ax.get_xscale() == scale
    assert list(ax.get_xticks()) == values  # a tick at every value
    assert_labels_apart(fig)
    shown = shown_labels(fig)
    assert shown[0] == labels[0] and set(shown) <= {"", *labels}
    assert (shown == labels) == all_shown


def test_values_that_are_not_numbers_are_evenly_spaced_categories() -> None:
    labels = ["off", "fixed:1514", "fixed:3028", "fixed:15140", "fixed:60560", "fixed:262144",
              "adaptive"]
    fig = figure(labels, None, n_lines=2)
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    assert list(ax.get_xticks()) == list(range(7))
    assert shown_labels(fig) == labels
    assert ax.get_xlim() == (-0.5, 6.5)
    assert [line.get_linestyle() for line in ax.get_lines()] == ["None", "None"]  # no order
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["seed=1", "seed=2"]
    assert_labels_apart(fig)


def test_crowded_labels_are_turned_then_thinned(tmp_path: Path) -> None:
    many = [f"fixed:{1000 + 10 * i}" for i in range(60)]
    fig = figure(many, None)
    assert {t.get_rotation() for t in fig.axes[0].get_xticklabels()} == {45}
    shown = shown_labels(fig)
    assert shown[0] == many[0] and 0 < sum(map(bool, shown)) < len(many)
    assert list(fig.axes[0].get_xticks()) == list(range(60))  # every value keeps its tick
    assert_labels_apart(fig)
    few = figure(many[:3], None)
    assert {t.get_rotation() for t in few.axes[0].get_xticklabels()} == {0}
    fig.savefig(tmp_path / "s.png", format="png", dpi=100)
    assert is_png(tmp_path / "s.png")


def test_the_metric_axis_is_log_when_it_spans_a_wide_range() -> None:
    wide = sweep_figure(["a", "b"], None, {None: [25.0, 18_000.0]}, xlabel="x", ylabel="y",
                        title="t")
    narrow = sweep_figure(["a", "b"], None, {None: [0.0, 18_000.0]}, xlabel="x", ylabel="y",
                          title="t")
    assert (wide.axes[0].get_yscale(), narrow.axes[0].get_yscale()) == ("log", "linear")


def test_plots_count_what_is_still_queued_at_the_end(tmp_path: Path) -> None:
    """sim/stfq.toml ends with 2,424 of its 6,750 packets still queued: the occupancy
    plot stays up at the end and says so; the latency CDF marks the packets never
    delivered instead of scaling the delivered ones to 1."""
    assert main(["sim", str(REPO / "sim/stfq.toml"), "--out", str(tmp_path)]) == 0
    with (tmp_path / "records.csv").open() as f:
        records = [Record(int(r["flow"]), int(r["size"]), int(r["arrived_ns"]),
                          int(r["departed_ns"]) if r["departed_ns"] else -1, r["outcome"])
                   for r in csv.DictReader(f)]
    left = [r for r in records if r.outcome == "unfinished"]
    delivered = sum(r.outcome == "delivered" for r in records)
    assert (len(records), len(left)) == (6750, 2424)
    end = 300_000_000  # the scenario's duration (no drain)
    t, level = occupancy(records, end_ns=end)
    assert t[-1] == end and level[-1] == sum(r.size for r in left) > 0

    fig = occupancy_figure(records, end_ns=end)
    assert fig is not None
    legend = [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"still queued at the end: 2,424 packets, "
                      f"{sum(r.size for r in left) / 1e3:,.1f} KB"]

    fig = latency_figure(records)
    assert fig is not None
    ax = fig.axes[0]
    assert "never delivered: 2,424 still queued at the end, 576 dropped" in ax.get_title()
    (all_,) = [line for line in ax.get_lines() if line.get_label() == "all"]
    assert max(all_.get_ydata()) == pytest.approx(delivered / len(records))
    assert (tmp_path / "occupancy.png").is_file() and (tmp_path / "latency_cdf.png").is_file()
