"""``xdpq sim SCENARIO --out DIR``: run a scenario through the simulator."""

from __future__ import annotations

import argparse
from pathlib import Path

from xdpq.commands import FAST_HELP, emit, json_options

# As typing.TYPE_CHECKING, without importing typing for `xdpq sim --help` (see cli.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TOP_FLOWS = 10  # rows of the summary table; the rest is one line (summary.json has all)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim",
        help="simulate a scenario offline",
        description="Run a scenario (sim/*.toml: workload, link, scheduler, parameters, "
                    "duration, seed) through the simulator, which runs the scheduler's own "
                    "program. Prints a summary per flow (throughput, share, delay, drops by "
                    "reason) and writes summary.json, records.csv and PNG plots; a scenario "
                    "with a [sweep] is a sweep of one axis, as xdpq sweep runs it (one point "
                    "after the other here): one directory per value and sweep.json, sweep.csv "
                    "and sweep.png.",
        epilog="examples:\n  xdpq sim sim/stfq.toml --out /tmp/stfq\n"
               "  xdpq -j sim sim/stfq.toml --out /tmp/stfq | jq .flows   (summary.json's "
               "contents)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="the scenario file (.toml)")
    p.add_argument("--out", type=Path, required=True, help="the directory to write into")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--fast", action="store_true", help=FAST_HELP)
    json_options(p)  # {out, files, summary}: summary.json's contents; a sweep: {out, files, points}
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The simulator's modules, here rather than at the top: they take several times as
    # long to import as all that `xdpq sim --help` needs.
    from xdpq.codegen.python import load_scheduler
    from xdpq.commands import sweep
    from xdpq.sim.scenario import load_scenario, run_scenario
    from xdpq.sim.sweep import axes_of, run_sweep

    scenario = load_scenario(args.scenario)
    if scenario.sweep is None:
        out = run_scenario(scenario, args.out, load_scheduler, plots=not args.no_plots,
                           fast=args.fast)
        files = [str(f) for f in out.files]
        if args.json:
            emit(args, {"out": str(out.out_dir), "files": files, "summary": out.doc})
            return 0
        print(summary_table(out.doc))
        print(f"wrote {out.out_dir}: {', '.join(f.name for f in out.files)}")
        return 0

    result = run_sweep(scenario, axes_of(scenario, []), args.out, plots=not args.no_plots,
                       progress=None, done=sweep.progress(args), fast=args.fast)
    return sweep.show(args, result)


# --- the summary table --------------------------------------------------------------------------


def _rate(bps: float) -> str:
    for scale, unit in ((1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "Kbit/s")):
        if bps >= scale:
            return f"{bps / scale:.2f} {unit}"
    return f"{bps:.0f} bit/s"


def _delay(ns: int) -> str:
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= scale:
            return f"{ns / scale:.4g} {unit}"
    return f"{ns} ns"


def _drops(drops: dict[str, int]) -> str:
    return ", ".join(f"{why} {n:,}" for why, n in drops.items()) or "-"


def summary_table(doc: dict[str, Any], top: int = TOP_FLOWS) -> str:
    """The summary of one run (summary.json's contents) as a short table: per flow its
    packets, throughput, share of the delivered bytes, p50/p99 delay of the delivered
    packets and drops by reason (the program's own names: ``drop queue_full`` shows as
    queue_full; the datapath's as drop_*), and a line for all flows."""
    sc, flows = doc["scenario"], doc["flows"]
    queued = doc["outcomes"].get("unfinished", 0)
    dropped = sum(n for k, n in doc["outcomes"].items() if k.startswith("drop_"))
    lines = [f"{sc['name']} ({sc['file']}): {doc['packets']:,} packets in "
             f"{_delay(doc['duration_ns'])}: {doc['delivered']:,} delivered, "
             f"{dropped:,} dropped, {queued:,} still queued at the end"]
    rows = [("flow", "packets", "throughput", "share", "p50 delay", "p99 delay", "drops")]
    shown = sorted(sorted(flows, key=lambda f: -f["bytes_delivered"])[:top],
                   key=lambda f: f["flow"])
    for f in shown:
        rows.append((str(f["flow"]), f"{f['packets']:,}", _rate(f["throughput_bps"]),
                     f"{f['share']:.1%}", _delay(f["latency_p50_ns"]),
                     _delay(f["latency_p99_ns"]), _drops(f["drops"])))
    if len(flows) > len(shown):
        rest = [f for f in flows if f not in shown]
        rows.append((f"{len(rest):,} more", f"{sum(f['packets'] for f in rest):,}",
                     _rate(sum(f["throughput_bps"] for f in rest)),
                     f"{sum(f['share'] for f in rest):.1%}", "", "", "(summary.json)"))
    total: dict[str, int] = {}
    for f in flows:
        for why, n in f["drops"].items():
            total[why] = total.get(why, 0) + n
    rows.append(("all", f"{doc['packets']:,}", _rate(doc["throughput_bps"]),
                 "100.0%" if doc["delivered"] else "-", _delay(doc["latency_p50_ns"]),
                 _delay(doc["latency_p99_ns"]), _drops(dict(sorted(total.items())))))
    lines += _columns(rows)
    if "tcp" in doc:
        lines += tcp_table(doc["tcp"], top)
    return "\n".join(lines)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as lines: the first column to the left, the last as it comes, the others
    to the right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([r[0].ljust(widths[0]),
                       *(c.rjust(w) for c, w in zip(r[1:-1], widths[1:], strict=True)),
                       r[-1]]).rstrip() for r in rows]


def tcp_table(tcp: dict[str, Any], top: int = TOP_FLOWS) -> list[str]:
    """The TCP flows (summary.json's "tcp"): per flow its goodput, retransmissions and
    timeouts, smoothed RTT, completion time, and ECN marks it heard of."""
    lines = [f"TCP: {len(tcp['flows'])} flows, {_rate(tcp['goodput_bps'])} goodput, "
             f"Jain's index {tcp['jain_index']:.3f}"]
    rows = [("flow", "cc", "rtt", "goodput", "retransmits", "timeouts", "srtt p50",
             "srtt p99", "fct", "CE")]
    flows = sorted(tcp["flows"], key=lambda f: -f["bytes_delivered"])[:top]
    for f in sorted(flows, key=lambda f: f["flow"]):
        rows.append((str(f["flow"]), f["cc"], _delay(f["rtt_ns"]), _rate(f["goodput_bps"]),
                     f"{f['retransmits']:,}", f"{f['timeouts']:,}", _delay(f["srtt_p50_ns"]),
                     _delay(f["srtt_p99_ns"]), _delay(f["fct_ns"]) if f["fct_ns"] else "-",
                     f"{f['ce_received']:,}"))
    if len(tcp["flows"]) > len(flows):
        rows.append((f"{len(tcp['flows']) - len(flows):,} more", "", "", "", "", "", "", "",
                     "", "(summary.json)"))
    return lines + _columns(rows)
