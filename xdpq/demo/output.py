"""The demo's results: a side-by-side table, demo.json, demo.png."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from xdpq.demo.compare import Report
from xdpq.sim.plots import new_figure


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.2f}"


def table(r: Report) -> str:
    held = r.mode == "held"
    shares = "share while all are backlogged" if held else "share in steady state"
    delays = "latency from release, ms" if held else "latency from sending, ms"
    lines = [
        f"{'':22}{shares:^36}  {delays:^34}",
        f"{'flow':6}{'class':>6}{'promised':>10}  {'sim':>8}{'kernel':>10}{'diff':>10}    "
        f"{'sim p50':>8}{'p99':>8}{'kernel p50':>11}{'p99':>7}",
    ]
    for i, (s, k) in enumerate(zip(r.sim.flows, r.kernel.flows, strict=True)):
        lines.append(
            f"{s.label:6}{r.classes[i]:>6}{r.expected[i]:>10.1%}  {s.share:>8.1%}{k.share:>10.1%}"
            f"{r.diff_pp[i]:>+8.1f} pp    {_ms(s.latency_p50_ns):>8}{_ms(s.latency_p99_ns):>8}"
            f"{_ms(k.latency_p50_ns):>11}{_ms(k.latency_p99_ns):>7}"
        )
    lines += [
        "",
        f"{'':22}{'sim':>8}{'kernel':>10}",
        f"{'packets sent':22}{sum(f.sent for f in r.sim.flows):>8}"
        f"{sum(f.sent for f in r.kernel.flows):>10}",
        f"{'delivered':22}{r.sim.delivered:>8}{r.kernel.delivered:>10}",
    ]
    if not held:
        lines += [
            f"{'steady window':22}{r.sim.window:>8}{r.kernel.window:>10}   (packets)",
            f"{'rate in it, Mbit/s':22}{r.sim.extra['rate_bps'] / 1e6:>8.2f}"
            f"{r.kernel.extra['rate_bps'] / 1e6:>10.2f}   (--rate {r.link_rate_bps / 1e6:g}Mbit)",
        ]
        return "\n".join(lines + _drops(r))
    lines += [
        f"{'contended window':22}{r.sim.window:>8}{r.kernel.window:>10}   (departures)",
        f"{'drain, ms':22}{_ms(r.sim.drain_ns):>8}{_ms(r.kernel.drain_ns):>10}",
    ]
    x = r.kernel.extra
    lines.append(
        f"{'kernel timer fires':22}{'':>8}{x['timer_fires']:>10.0f}   "
        f"({x['packets_per_timer_fire']:.1f} packets each; "
        f"{x['transmitter_calls']:.0f} transmitter calls)"
    )
    if x["stack_datagrams_sent"]:
        lines.append(
            f"{'stack traffic':22}{'':>8}{x['stack_frames_received']:>10.0f}   (of "
            f"{x['stack_datagrams_sent']:.0f} datagrams the DUT's stack sent out of out0 "
            "meanwhile, unscheduled)"
        )
    return "\n".join(lines + _drops(r))


def _drops(r: Report) -> list[str]:
    reasons = sorted(set(r.sim.drops) | set(r.kernel.drops))
    if not reasons:
        return [f"{'drops':22}{0:>8}{0:>10}"]
    return [f"{reason:22}{r.sim.drops.get(reason, 0):>8}{r.kernel.drops.get(reason, 0):>10}"
            for reason in reasons]


def write_json(r: Report, path: Path) -> Path:
    path.write_text(json.dumps(asdict(r), indent=2) + "\n")
    return path


def write_png(r: Report, path: Path) -> Path:
    fig = new_figure(figsize=(11, 4.5))
    share_ax, lat_ax = fig.subplots(1, 2)
    labels = [f.label for f in r.sim.flows]
    x = np.arange(len(labels))
    share_ax.bar(x - 0.2, [f.share * 100 for f in r.sim.flows], 0.4, label="simulator")
    share_ax.bar(x + 0.2, [f.share * 100 for f in r.kernel.flows], 0.4, label="kernel")
    share_ax.scatter(
        x,
        [e * 100 for e in r.expected],
        marker="_",
        s=900,
        color="black",
        label="promised by the weights",
        zorder=3,
    )
    share_ax.set(
        xticks=x,
        xticklabels=labels,
        ylabel="% of bytes",
        title=f"{r.scheduler}: shares while all flows are backlogged" if r.mode == "held"
        else f"{r.scheduler} at --rate {r.link_rate_bps / 1e6:g}Mbit: shares in steady state",
    )
    share_ax.legend()
    for i, (name, flows) in enumerate((("simulator", r.sim.flows), ("kernel", r.kernel.flows))):
        off = -0.15 + 0.3 * i
        lat_ax.bar(
            x + off,
            [f.latency_p50_ns / 1e6 for f in flows],
            0.28,
            label=f"{name} p50",
            color=f"C{i}",
        )
        lat_ax.scatter(
            x + off,
            [f.latency_p99_ns / 1e6 for f in flows],
            marker="v",
            color=f"C{i}",
            edgecolor="black",
            label=f"{name} p99",
            zorder=3,
        )
    lat_ax.set(
        xticks=x,
        xticklabels=labels,
        ylabel="ms after the release" if r.mode == "held" else "ms after sending",
        title="latency: p50 bars, p99 marks",
    )
    lat_ax.legend()
    for ax in (share_ax, lat_ax):
        ax.grid(True, axis="y", alpha=0.3)
    fig.savefig(path, format="png", dpi=100)
    return path
