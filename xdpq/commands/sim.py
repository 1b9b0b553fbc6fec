"""``xdpq sim SCENARIO --out DIR``: run a scenario through the simulator."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xdpq.codegen.python import load_scheduler
from xdpq.sim.scenario import load_scenario, run_scenario
from xdpq.sim.sweep import axes_of, describe, run_sweep


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim",
        help="simulate a scenario offline",
        description="Run a scenario (sim/*.toml: workload, link, scheduler, parameters, "
                    "duration, seed) through the simulator, which runs the scheduler's own "
                    "program. Writes summary.json, records.csv and PNG plots; a scenario with "
                    "a [sweep] is a sweep of one axis, as xdpq sweep runs it (one point after "
                    "the other here): one directory per value and sweep.json, sweep.csv and "
                    "sweep.png.",
        epilog="example: xdpq sim sim/stfq.toml --out /tmp/stfq",
    )
    p.add_argument("scenario", type=Path, help="the scenario file (.toml)")
    p.add_argument("--out", type=Path, required=True, help="the directory to write into")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    if scenario.sweep is None:
        out = run_scenario(scenario, args.out, load_scheduler, plots=not args.no_plots)
        print(f"{out.out_dir}: {', '.join(f.name for f in out.files)}")
        return 0

    def done(row: dict[str, Any], finished: int, total: int) -> None:
        print(f"[{finished}/{total}] {describe(row)}", flush=True)

    result = run_sweep(scenario, axes_of(scenario, []), args.out, plots=not args.no_plots,
                       progress=None, done=done)
    print(f"{args.out}: {', '.join(f.name for f in result.files)}")
    return 0
