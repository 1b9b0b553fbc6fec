"""``xdpq sim SCENARIO --out DIR``: run a scenario through the simulator."""

from __future__ import annotations

import argparse
from pathlib import Path

from xdpq.codegen.python import load_scheduler
from xdpq.sim.scenario import run_scenario


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim",
        help="simulate a scenario offline",
        description="Run a scenario (sim/*.toml: workload, link, scheduler, parameters, "
                    "duration, seed) through the simulator, which runs the scheduler's own "
                    "program. Writes summary.json, records.csv and PNG plots; a scenario with "
                    "a [sweep] writes one directory per value and sweep.json/sweep.png.",
        epilog="example: xdpq sim sim/stfq.toml --out /tmp/stfq",
    )
    p.add_argument("scenario", type=Path, help="the scenario file (.toml)")
    p.add_argument("--out", type=Path, required=True, help="the directory to write into")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for out in run_scenario(args.scenario, args.out, load_scheduler, plots=not args.no_plots):
        label = f"[{out.label}] " if out.label else ""
        files = ", ".join(f.name for f in out.files)
        print(f"{label}{out.out_dir}: {files}")
    return 0
