"""Plots of a simulation's records, as PNG files.

Figures are drawn with matplotlib's object API on the Agg canvas: no pyplot,
no global state, no display needed, safe to call from any thread. Each
function takes the records of a run and a path, and returns the path written
(or ``None`` when the records hold nothing to plot, e.g. no flow completed).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from xdpq.sim.metrics import Completion
from xdpq.sim.run import DROPPED, Record

TOP_FLOWS = 8


def _figure(title: str) -> tuple[Figure, object]:
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
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


def latency_cdf(records: Sequence[Record], path: str | os.PathLike[str], *,
                top: int = TOP_FLOWS, title: str = "Latency CDF") -> Path | None:
    """The CDF of delivered packets' latency (arrival to delivery), over all flows
    and, when there are at most ``top`` flows, per flow."""
    done = _delivered(records)
    if not done:
        return None
    fig, ax = _figure(title)

    def draw(lat: list[int], **style: object) -> None:
        x = np.sort(np.asarray(lat, dtype=np.float64)) / 1e3
        y = np.arange(1, len(x) + 1) / len(x)
        ax.plot(x, y, drawstyle="steps-post", **style)

    flows = sorted({r.flow for r in done})
    if 1 < len(flows) <= top:
        for f in flows:
            draw([r.departed - r.arrived for r in done if r.flow == f], label=f"flow {f}")
    draw([r.departed - r.arrived for r in done], label="all", color="black")
    lat = [r.departed - r.arrived for r in done]
    if max(lat) > 100 * max(1, min(lat)):
        ax.set_xscale("log")
    ax.set_xlabel("latency (µs)")
    ax.set_ylabel("fraction of packets")
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize="small", loc="lower right")
    return _save(fig, path)


def fct_by_size(done: Sequence[Completion], path: str | os.PathLike[str], *,
                title: str = "Flow completion time by flow size") -> Path | None:
    """Each completed flow's FCT against its size (log-log), with the median and
    99th percentile of FCT in logarithmic size bins, and slowdown on a second panel."""
    if not done:
        return None
    size = np.asarray([c.size for c in done], dtype=np.float64)
    fct = np.asarray([c.fct_ns for c in done], dtype=np.float64) / 1e6
    slow = np.asarray([c.slowdown for c in done], dtype=np.float64)
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
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


def occupancy_over_time(records: Sequence[Record], path: str | os.PathLike[str], *,
                        propagation_ns: int = 0,
                        title: str = "Bytes queued (scheduler and device)") -> Path | None:
    """Bytes between arrival and the end of serialization, over time: what the
    scheduler and the device queue held, counting the packets that were delivered
    (the records do not say when a dropped packet left)."""
    done = _delivered(records)
    if not done:
        return None
    times = np.fromiter((x for r in done for x in (r.arrived, r.departed - propagation_ns)),
                        dtype=np.int64, count=2 * len(done))
    deltas = np.fromiter((x for r in done for x in (r.size, -r.size)), dtype=np.int64,
                         count=2 * len(done))
    order = np.lexsort((deltas, times))  # at equal times, departures first
    t, level = times[order], np.cumsum(deltas[order])
    fig, ax = _figure(title)
    ax.plot(t / 1e6, level / 1e3, drawstyle="steps-post", linewidth=0.8)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("KB queued")
    ax.set_ylim(bottom=0)
    return _save(fig, path)


@dataclass(frozen=True)
class SweepPoint:
    label: str
    throughput_bps: float
    latency_p50_ns: int
    latency_p99_ns: int


def sweep(points: Sequence[SweepPoint], path: str | os.PathLike[str], *,
          title: str = "Latency against throughput") -> Path | None:
    """One point per variant of a sweep: its p50 and p99 latency against its throughput."""
    if not points:
        return None
    fig, ax = _figure(title)
    x = [p.throughput_bps / 1e6 for p in points]
    ax.scatter(x, [p.latency_p50_ns / 1e3 for p in points], marker="o", label="p50")
    ax.scatter(x, [p.latency_p99_ns / 1e3 for p in points], marker="^", label="p99")
    for p, xi in zip(points, x, strict=True):
        ax.annotate(p.label, (xi, p.latency_p99_ns / 1e3), fontsize="x-small",
                    textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel("throughput (Mbit/s)")
    ax.set_ylabel("latency (µs)")
    if max(p.latency_p99_ns for p in points) > 100 * max(1, min(p.latency_p50_ns
                                                                 for p in points)):
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_run(records: Sequence[Record], out_dir: str | os.PathLike[str], *,
             done: Sequence[Completion] = (), propagation_ns: int = 0) -> list[Path]:
    """Every plot the records allow, into ``out_dir``: throughput.png,
    latency_cdf.png, occupancy.png and, when flows completed, fct.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = [
        throughput_over_time(records, out / "throughput.png"),
        latency_cdf(records, out / "latency_cdf.png"),
        occupancy_over_time(records, out / "occupancy.png", propagation_ns=propagation_ns),
        fct_by_size(done, out / "fct.png"),
    ]
    return [p for p in made if p is not None]
