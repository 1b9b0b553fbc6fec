"""``xdpq sweep SCENARIO --param NAME=V1,V2,... --jobs N --out DIR``: a grid of runs."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xdpq.commands import FAST_HELP, emit, json_options
from xdpq.sim.scenario import load_scenario
from xdpq.sim.sweep import (
    METRICS,
    SCENARIO_KEYS,
    SweepResult,
    axes_of,
    describe,
    run_sweep,
)

EPILOG = f"""\
examples:
  xdpq sweep sim/stfq.toml --param 'weight[1]=1,2,4,8' --jobs 2 --out /tmp/w
  xdpq sweep sim/tbf.toml --param rate=10Mbit,20Mbit --param link.rate=100Mbit,1Gbit \\
      --metric throughput_bps --out /tmp/tbf
  xdpq sweep sim/bql_sweep.toml --jobs 4 --out /tmp/bql      (the file's own [sweep])
  xdpq sweep sim/websearch.toml --param seed=1,2,3 --dask tcp://10.0.0.5:8786 --out /shared/ws

NAME is a key of the scenario file, spelled as its path there:
{textwrap.fill(", ".join(SCENARIO_KEYS) + ".", 84, initial_indent="  ", subsequent_indent="  ")}
A scheduler parameter's bare name is short for scheduler.params.NAME; its values
have units, checked like xdpq set: quantum=1514B,3028B; a table entry as
weight[1]=1,2,4, or weight=2,4 to set every entry.
Commas separate points; the points are every combination of the --param values (and
of the scenario's own [sweep] values). Every point uses the scenario's seed, so
results do not depend on --jobs or on where a point runs.

Writes DIR/<point>/ (what xdpq sim writes), DIR/sweep.json and DIR/sweep.csv (one row
per point: the values, throughput, Jain's index, shares, latency p50/p99/p99.9, drops,
mean FCT) and DIR/sweep.png (--metric against the first axis of several values).
--dask runs the points on a Dask cluster (pip install 'dask[distributed]'); its
workers need xdpq and the scenario's files, and write to DIR: use paths that are the
same on every worker, e.g. a shared file system.
"""

def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a scenario over a grid of parameter values, in parallel",
        description="Run a scenario once per combination of parameter values, on a "
        "process pool (or a Dask cluster), and tabulate and plot the results.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="the scenario file (.toml)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="an axis of the grid; repeat for more axes",
    )
    p.add_argument("--out", type=Path, required=True, help="the directory to write into")
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="points run at once (default: the number of CPUs)",
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on the Dask scheduler at ADDRESS (tcp://host:8786) instead",
    )
    p.add_argument(
        "--metric",
        choices=METRICS,
        default=METRICS[0],
        help="what sweep.png shows (default: %(default)s)",
    )
    p.add_argument(
        "--flow",
        type=int,
        metavar="N",
        help="latency columns of flow N only (default: every packet's)",
    )
    p.add_argument("--no-plots", action="store_true", help="write no PNGs")
    p.add_argument("--fast", action="store_true", help=FAST_HELP)
    json_options(p)  # {out, files, points}: the points as sweep.json has them
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    axes = axes_of(scenario, args.param)
    result = run_sweep(
        scenario,
        axes,
        args.out,
        jobs=args.jobs,
        dask=args.dask,
        plots=not args.no_plots,
        metric=args.metric,
        flow=args.flow,
        done=progress(args),
        fast=args.fast,
    )
    return show(args, result)


def progress(args: argparse.Namespace) -> Callable[[dict[str, Any], int, int], None]:
    """A line per finished point (on stderr when stdout carries JSON)."""

    def done(row: dict[str, Any], finished: int, total: int) -> None:
        print(f"[{finished}/{total}] {describe(row)}", flush=True,
              file=sys.stderr if args.json else sys.stdout)

    return done


def show(args: argparse.Namespace, result: SweepResult) -> int:
    """What a sweep wrote; with -j its points too, as sweep.json has them."""
    if args.json:
        emit(args, {"out": str(args.out), "files": [str(f) for f in result.files],
                    "points": result.rows})
    else:
        print(f"{args.out}: {', '.join(f.name for f in result.files)}")
    return 0
