"""``xdpq demo``: one workload through the simulator and the kernel, side by side."""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from xdpq.commands import emit, json_options
from xdpq.demo.workload import SCHEDULERS, TOLERANCE_PP, workload
from xdpq.errors import XdpqError
from xdpq.net import host

EPILOG = """\
examples:
  sudo xdpq demo                          # STFQ, weights 1:2:3, three flows
  sudo xdpq demo --scheduler hpfq --out /tmp/demo

It builds a veth test bed (three network namespaces), deploys the scheduler on it,
queues every flow's packets while the scheduler is held, releases them and records
what the receiver gets; then runs the same packets through the simulator, on a link as
fast as the kernel's drain was. Shares are of the bytes delivered while every flow still
had packets waiting; latencies count from the release. Everything it built is removed
at the end, also on Ctrl-C. Exit status 1 when a share differs by more than 5
percentage points between the two.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run one workload through the simulator and the kernel, side by side",
        description="Run a scheduler of the library on a veth test bed and in the "
        "simulator with the same workload; print both results side by side "
        "and write demo.json and demo.png.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default="stfq",
        help="stfq: three flows, weights 1:2:3 (default); hpfq: two tenants "
        "weighted 1:2, the first with two flows",
    )
    p.add_argument(
        "--packets",
        type=int,
        default=None,
        metavar="N",
        help="packets per flow (default 1300; the backlog must fit the 4096 slots)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where demo.json and demo.png go (default: a new temporary directory)",
    )
    p.add_argument(
        "--stack-load",
        action="store_true",
        help="meanwhile, let the DUT's own stack send UDP out of the same egress "
        "(which XDP cannot schedule; see docs/findings.md)",
    )
    json_options(p)  # demo.json's contents and the files written; progress on stderr
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xdpq.demo.compare import run_demo  # numpy and matplotlib: only when it runs
    from xdpq.demo.output import table, write_json, write_png

    host.check_capabilities("demo")
    w = workload(args.scheduler, args.packets)
    out = args.out or Path(tempfile.mkdtemp(prefix="xdpq-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    say = sys.stderr if args.json else sys.stdout  # stdout carries the JSON alone
    print(f"xdpq demo: {w.what}; {w.packets} packets of {w.size} B per flow", flush=True,
          file=say)
    report = run_demo(w, lambda msg: print(f"  {msg}", flush=True, file=say), args.stack_load)
    files = [write_json(report, out / "demo.json"), write_png(report, out / "demo.png")]
    if args.json:
        emit(args, {**asdict(report), "files": [str(f) for f in files]})
    else:
        print()
        print(table(report))
        print()
        for path in files:
            print(f"wrote {path}")
        print("test bed, scheduler and programs removed")
    if not report.agree:
        worst = max(report.diff_pp, key=abs)
        raise XdpqError(
            f"the simulator and the kernel disagree: a share differs by "
            f"{abs(worst):.1f} percentage points (at most {TOLERANCE_PP:.0f})"
        )
    if not args.json:
        print(f"the simulator and the kernel agree: every share within {TOLERANCE_PP:.0f} "
              "percentage points")
    return 0
