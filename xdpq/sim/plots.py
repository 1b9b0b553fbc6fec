"""Plots of a simulation's records, as PNG files, and of a sweep's points.

Figures are drawn with matplotlib's object API on the Agg canvas: no pyplot,
no global state, no display needed, safe to call from any thread. Each
function for a run takes its records and a path, and returns the path written
(or ``None`` when the records hold nothing to plot, e.g. no flow completed);
:func:`sweep_figure` returns the figure of a metric against a swept value,
which :mod:`xdpq.sim.sweep` saves.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xdpq.resources import matplotlib_config
from xdpq.sim.metrics import Completion
from xdpq.sim.run import DROPPED, Record
from xdpq.sim.tcp import TcpStats

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TOP_FLOWS = 8
WIDE = 20  # values whose largest is this many times their smallest get a log axis
LABEL_ANGLE = 45  # degrees, for tick labels too close to sit side by side


def new_figure(**kw: Any) -> Figure:
    """A matplotlib figure on the Agg canvas (matplotlib is imported here, once its
    configuration directory is sure to be writable)."""
    matplotlib_config()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(layout="constrained", **kw)
    FigureCanvasAgg(fig)
    return fig


def _figure(title: str) -> tuple[Figure, Axes]:
    fig = new_figure(figsize=(8, 4.5))
    ax = fig.subplots()
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    fig.savefig(path, format="png", dpi=100)
    return path


def _delivered(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if r.departed != DROPPED]


def throughput_over_time(records: Sequence[Record], path: str | os.PathLike[str], *,
                         bin_ns: int | None = None, top: int = TOP_FLOWS,
                         title: str = "Throughput per flow") -> Path | None:
    """Delivered Mbit/s per flow in time bins (100 over the run unless ``bin_ns``);
    beyond the ``top`` flows by bytes, the rest are summed into one line."""
    done = _delivered(records)
    if not done:
        return None
    t = np.fromiter((r.departed for r in done), dtype=np.int64, count=len(done))
    size = np.fromiter((r.size for r in done), dtype=np.float64, count=len(done))
    flow = np.fromiter((r.flow for r in done), dtype=np.int64, count=len(done))
    end = int(t.max()) + 1
    bin_ns = bin_ns or max(1, -(-end // 100))
    edges = np.arange(0, end + bin_ns, bin_ns, dtype=np.int64)
    mid = (edges[:-1] + bin_ns / 2) / 1e6  # ms
    scale = 8 / (bin_ns / 1e9) / 1e6  # bytes per bin -> Mbit/s
    totals = Counter[int]()
    for f, s in zip(flow.tolist(), size.tolist(), strict=True):
        totals[f] += int(s)
    shown = [f for f, _ in totals.most_common(top)]
    fig, ax = _figure(title)
    for f in sorted(shown):
        sel = flow == f
        hist, _ = np.histogram(t[sel], bins=edges, weights=size[sel])
        ax.plot(mid, hist * scale, label=f"flow {f}", drawstyle="steps-mid")
    rest = ~np.isin(flow, shown)
    if rest.any():
        hist, _ = np.histogram(t[rest], bins=edges, weights=size[rest])
        ax.plot(mid, hist * scale, label=f"{len(totals) - len(shown)} other flows",
                drawstyle="steps-mid", color="silver", linestyle=":")
    if len(totals) > 1:
        hist, _ = np.histogram(t, bins=edges, weights=size)
        ax.plot(mid, hist * scale, label="all", color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("Mbit/s delivered")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", loc="upper right")
    return _save(fig, path)


def _never_delivered(records: Sequence[Record]) -> str:
    """How many packets never arrived at the far end, and why."""
    queued = sum(r.outcome == "unfinished" for r in records)
    lost = sum(r.departed == DROPPED for r in records) - queued
    return f"never delivered: {queued:,} still queued at the end, {lost:,} dropped or passed"


def latency_figure(records: Sequence[Record], *, top: int = TOP_FLOWS,
                   title: str = "Latency CDF") -> Figure | None:
    """The CDF of latency (arrival to delivery) over every packet that arrived: the
    packets never delivered (still queued when the run ended, or dropped) have no
    latency, so each curve stops at the fraction that was delivered, which a dotted
    line marks and a note explains. Over all flows and, for at most ``top`` flows, per
    flow."""
    done = _delivered(records)
    if not done:
        return None
    fig, ax = _figure(title)

    def draw(recs: Sequence[Record], **style: Any) -> None:
        lat = [r.departed - r.arrived for r in recs if r.departed != DROPPED]
        x = np.sort(np.asarray(lat, dtype=np.float64)) / 1e3
        y = np.arange(1, len(x) + 1) / len(recs)
        (line,) = ax.plot(x, y, drawstyle="steps-post", **style)
        if len(lat) < len(recs):
            ax.axhline(len(lat) / len(recs), color=line.get_color(), linestyle=":",
                       linewidth=0.8)

    flows = sorted({r.flow for r in records})
    if 1 < len(flows) <= top:
        for f in flows:
            draw([r for r in records if r.flow == f], label=f"flow {f}")
    draw(records, label="all", color="black")
    lat = [r.departed - r.arrived for r in done]
    if max(lat) > 100 * max(1, min(lat)):
        ax.set_xscale("log")
    ax.set_xlabel("latency (µs)")
    ax.set_ylabel("fraction of the packets that arrived")
    ax.set_ylim(0, 1.01)
    if len(done) < len(records):
        ax.set_title(f"{title}\n{_never_delivered(records)} (dotted: where each curve ends)",
                     fontsize="medium")
    ax.legend(fontsize="small", loc="lower right")
    return fig


def latency_cdf(records: Sequence[Record], path: str | os.PathLike[str], *,
                top: int = TOP_FLOWS, title: str = "Latency CDF") -> Path | None:
    """:func:`latency_figure`, saved."""
    fig = latency_figure(records, top=top, title=title)
    return None if fig is None else _save(fig, path)


def fct_by_size(done: Sequence[Completion], path: str | os.PathLike[str], *,
                title: str = "Flow completion time by flow size") -> Path | None:
    """Each completed flow's FCT against its size (log-log), with the median and
    99th percentile of FCT in logarithmic size bins, and slowdown on a second panel."""
    if not done:
        return None
    size = np.asarray([c.size for c in done], dtype=np.float64)
    fct = np.asarray([c.fct_ns for c in done], dtype=np.float64) / 1e6
    slow = np.asarray([c.slowdown for c in done], dtype=np.float64)
    fig = new_figure(figsize=(10, 4.5))
    ax, ax2 = fig.subplots(1, 2)
    fig.suptitle(title)
    ax.scatter(size, fct, s=6, alpha=0.4, label="flows")
    ax2.scatter(size, slow, s=6, alpha=0.4)
    lo, hi = size.min(), size.max()
    if hi > lo:
        edges = np.geomspace(lo, hi * 1.0001, 13)
        which = np.digitize(size, edges) - 1
        centers, p50, p99 = [], [], []
        for b in range(len(edges) - 1):
            sel = which == b
            if sel.any():
                centers.append(np.sqrt(edges[b] * edges[b + 1]))
                p50.append(np.median(fct[sel]))
                p99.append(np.percentile(fct[sel], 99))
        ax.plot(centers, p50, "o-", color="black", label="median")
        ax.plot(centers, p99, "s--", color="red", label="p99")
        ax.set_xscale("log")
        ax2.set_xscale("log")
    ax.set_yscale("log")
    ax2.set_yscale("log")
    for a in (ax, ax2):
        a.grid(True, alpha=0.3)
        a.set_xlabel("flow size (bytes)")
    ax.set_ylabel("FCT (ms)")
    ax2.set_ylabel("slowdown (FCT / ideal)")
    ax.legend(fontsize="small")
    return _save(fig, path)


def occupancy(records: Sequence[Record], *, propagation_ns: int = 0,
              end_ns: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bytes between arrival and the end of serialization, over time: what the scheduler
    and the device queue held. A delivered packet counts from its arrival until its
    last bit left; one still queued when the run ended counts until ``end_ns`` (the
    run's end; default: the last event). A dropped packet does not count (the records
    do not say when one the program dropped from a queue left it). Returns the times
    and the level from each on (steps), ending at the run's end."""
    held = [r for r in records if r.departed != DROPPED or r.outcome == "unfinished"]
    if not held:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    events = [(r.arrived, r.size) for r in held]
    events += [(r.departed - propagation_ns, -r.size) for r in held if r.departed != DROPPED]
    times = np.fromiter((t for t, _ in events), dtype=np.int64, count=len(events))
    deltas = np.fromiter((d for _, d in events), dtype=np.int64, count=len(events))
    order = np.lexsort((deltas, times))  # at equal times, departures first
    t, level = times[order], np.cumsum(deltas[order])
    end = max(int(t[-1]), end_ns or 0)
    return np.append(t, end), np.append(level, level[-1])


def occupancy_figure(records: Sequence[Record], *, propagation_ns: int = 0,
                     end_ns: int | None = None,
                     title: str = "Bytes queued (scheduler and device)") -> Figure | None:
    """:func:`occupancy` over time; what is still queued at the end is marked and said."""
    t, level = occupancy(records, propagation_ns=propagation_ns, end_ns=end_ns)
    if not len(t):
        return None
    fig, ax = _figure(title)
    ax.plot(t / 1e6, level / 1e3, drawstyle="steps-post", linewidth=0.8)
    left = [r for r in records if r.outcome == "unfinished"]
    if left:
        kb = sum(r.size for r in left) / 1e3
        ax.plot([t[-1] / 1e6], [level[-1] / 1e3], "o", color="red",
                label=f"still queued at the end: {len(left):,} packets, {kb:,.1f} KB")
        ax.legend(fontsize="small", loc="upper left")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("KB queued (drops not counted)")
    ax.set_ylim(bottom=0)
    return fig


def occupancy_over_time(records: Sequence[Record], path: str | os.PathLike[str], *,
                        propagation_ns: int = 0, end_ns: int | None = None) -> Path | None:
    """:func:`occupancy_figure`, saved."""
    fig = occupancy_figure(records, propagation_ns=propagation_ns, end_ns=end_ns)
    return None if fig is None else _save(fig, path)


def scale(values: Sequence[float]) -> str:
    """``"log"`` for positive values spanning a wide range (the largest at least
    WIDE times the smallest), where a linear axis would crowd all but the largest
    into one corner; else ``"linear"``."""
    finite = [v for v in values if math.isfinite(v)]
    if finite and min(finite) > 0 and max(finite) >= WIDE * min(finite):
        return "log"
    return "linear"


def sweep_figure(labels: Sequence[str], positions: Sequence[float] | None,
                 lines: Mapping[str | None, Sequence[float]], *, xlabel: str, ylabel: str,
                 title: str) -> Figure:
    """A metric against a swept value: for each entry of ``lines`` (its legend, or
    None) one y per value. ``positions`` places numeric values, on a log axis when
    they span a wide range (:func:`scale`); without them the values are categories,
    evenly spaced in the order given. The y axis is chosen the same way. Each value
    gets a tick with its label; labels that would overlap are turned, then thinned."""
    categorical = positions is None
    xs = [float(i) for i in range(len(labels))] if positions is None else list(positions)
    fig, ax = _figure(title)
    for name, ys in lines.items():
        pts = sorted(zip(xs, ys, strict=True))
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=name,
                linestyle="none" if categorical else "-")
    if categorical:
        ax.set_xlim(-0.5, len(xs) - 0.5)
    else:
        ax.set_xscale(scale(xs))
    ax.set_yscale(scale([y for ys in lines.values() for y in ys]))
    from matplotlib.ticker import NullLocator

    ax.xaxis.set_minor_locator(NullLocator())  # the values' own ticks only
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if any(name is not None for name in lines):
        ax.legend(fontsize="small")
    _tick_labels(fig, ax, xs, labels)
    return fig


def _tick_labels(fig: Figure, ax: Axes, xs: list[float], labels: Sequence[str]) -> None:
    """A tick at every x with its label: side by side when they fit, else turned
    (LABEL_ANGLE degrees) and, where even turned neighbours would touch, only the
    first of them (every tick stays)."""
    ax.set_xticks(xs, labels)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    pad = 0.3 * max((b.height for b in boxes), default=0)
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    if all(boxes[b].x0 >= boxes[a].x1 + pad for a, b in itertools.pairwise(order)):
        return
    turn = {"rotation": LABEL_ANGLE, "ha": "right", "rotation_mode": "anchor"}
    ax.set_xticks(xs, labels, **turn)
    fig.draw_without_rendering()  # the layout moves to make room
    at = ax.transData.transform([(x, 0) for x in xs])[:, 0]
    # Turned labels are parallel strips: they clear each other when their anchors
    # are a label's height (and a pad) apart across the strips.
    across = math.sin(math.radians(LABEL_ANGLE))
    shown = list(labels)
    last = None
    for i in order:
        if last is not None and (at[i] - at[last]) * across < boxes[i].height + pad:
            shown[i] = ""
        else:
            last = i
    ax.set_xticks(xs, shown, **turn)


def _timeline_axes(ax: Axes, timeline: Mapping[str, Any], what: str) -> bool:
    """One line per flow of a run's timeline (``tcp_summary``): ``goodput_bps`` of
    its TCP flows in Mbit/s, or ``latency_ns`` of the others in ms; False when it
    has none."""
    series = timeline[what]
    if not series:
        return False
    bin_ns = timeline["bin_ns"]
    for flow, ys in series.items():
        n = len(ys)
        xs = (np.arange(n) * bin_ns + bin_ns / 2) / 1e9
        vals = np.array([np.nan if y is None else y for y in ys], dtype=np.float64)
        vals /= 1e6
        ax.plot(xs, vals, label=f"flow {flow}", drawstyle="steps-mid" if
                what == "goodput_bps" else "default", marker="" if what == "goodput_bps"
                else ".", markersize=2)
    ax.set_ylabel("Mbit/s goodput" if what == "goodput_bps" else "latency (ms)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if len(series) <= TOP_FLOWS:
        ax.legend(fontsize="x-small", loc="upper right")
    return True


def tcp_figure(stats: Sequence[TcpStats], timeline: Mapping[str, Any], *,
               title: str = "TCP flows") -> Figure:
    """Over time: each TCP flow's goodput, congestion window and smoothed RTT, and the
    latency of the other flows (a probe's) where there are any."""
    probes = bool(timeline["latency_ns"])
    fig = new_figure(figsize=(8, 9 if probes else 7))
    axes = fig.subplots(4 if probes else 3, 1, sharex=True)
    axes[0].set_title(title)
    _timeline_axes(axes[0], timeline, "goodput_bps")
    for s in stats:
        t = np.array([x[0] for x in s.samples], dtype=np.float64) / 1e9
        axes[1].plot(t, [x[1] for x in s.samples], label=f"flow {s.flow}")
        axes[2].plot(t, np.array([x[2] for x in s.samples], dtype=np.float64) / 1e6,
                     label=f"flow {s.flow}")
    axes[1].set_ylabel("cwnd (segments)")
    axes[2].set_ylabel("smoothed RTT (ms)")
    for ax in axes[1:3]:
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    if probes:
        _timeline_axes(axes[3], timeline, "latency_ns")
    axes[-1].set_xlabel("time (s)")
    return fig


def timelines_figure(runs: Sequence[tuple[str, Mapping[str, Any]]], *,
                     title: str) -> Figure:
    """One row per run (its label, its timeline): the latency of the flows that are not
    TCP (the probes) and the goodput of the TCP flows over time, side by side."""
    fig = new_figure(figsize=(11, 2.6 * len(runs) + 0.6))
    grid = fig.subplots(len(runs), 2, sharex=True, squeeze=False)
    fig.suptitle(title)
    for (label, timeline), (left, right) in zip(runs, grid, strict=True):
        if not _timeline_axes(left, timeline, "latency_ns"):
            left.set_axis_off()
        _timeline_axes(right, timeline, "goodput_bps")
        left.set_title(label, fontsize="small", loc="left")
    for ax in grid[-1]:
        ax.set_xlabel("time (s)")
    return fig


def plot_run(records: Sequence[Record], out_dir: str | os.PathLike[str], *,
             done: Sequence[Completion] = (), propagation_ns: int = 0,
             end_ns: int | None = None, tcp: Sequence[TcpStats] = (),
             timeline: Mapping[str, Any] | None = None) -> list[Path]:
    """Every plot the records allow, into ``out_dir``: throughput.png,
    latency_cdf.png, occupancy.png, fct.png when flows completed, and tcp.png for TCP
    flows (``tcp``, with the run's ``timeline``). ``end_ns``: when the run ended (what
    is still queued then counts until then)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = [
        throughput_over_time(records, out / "throughput.png"),
        latency_cdf(records, out / "latency_cdf.png"),
        occupancy_over_time(records, out / "occupancy.png", propagation_ns=propagation_ns,
                            end_ns=end_ns),
        fct_by_size(done, out / "fct.png"),
    ]
    if tcp and timeline is not None:
        made.append(_save(tcp_figure(tcp, timeline), out / "tcp.png"))
    return [p for p in made if p is not None]
