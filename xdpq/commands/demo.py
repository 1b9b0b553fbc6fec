"""``xdpq demo``: one workload through the simulator and the kernel, side by side."""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from xdpq import units
from xdpq.commands import emit, json_options
from xdpq.demo.workload import SCHEDULERS, TOLERANCE_PP, workload
from xdpq.errors import XdpqError
from xdpq.net import host
from xdpq.units import Kind

EPILOG = """\
examples:
  sudo xdpq demo                          # STFQ, weights 1:2:3, three flows, 100 Mbit/s
  sudo xdpq demo --scheduler hpfq --rate 50mbit --out /tmp/demo
  sudo xdpq demo --held                   # a standing backlog, then released

It builds a veth test bed (three network namespaces) and deploys the scheduler on it
with a link rate (--rate); every flow offers more than the share its weight promises,
continuously, for a few seconds, so the queue builds in xdpq and the scheduler alone
decides who gets what; the receiver records what arrives. Then the same flows run
through the simulator, behind the same rate. Shares and latencies are those of the
steady state (the middle half of the run). With --held, every flow's packets are
queued while the scheduler is held and then released instead: shares while all were
backlogged, latencies from the release. Everything it built is removed at the end, also
on Ctrl-C. Exit status 1 when a share differs by more than 5 percentage points between
the two.
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
    p.add_argument("--rate", default="100mbit", metavar="RATE",
                   help="the link rate the flows overrun (default 100mbit)")
    p.add_argument("--seconds", type=float, default=4.0, metavar="S",
                   help="how long the flows are offered (default 4)")
    p.add_argument("--held", action="store_true",
                   help="instead: queue a backlog while the scheduler is held, then release it")
    p.add_argument(
        "--packets",
        type=int,
        default=None,
        metavar="N",
        help="--held: packets per flow (default 1300; the backlog must fit the 4096 slots)",
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
    from xdpq.demo.compare import run_continuous, run_demo  # numpy, matplotlib: when it runs
    from xdpq.demo.output import table, write_json, write_png

    host.check_capabilities("demo")
    if args.stack_load and not args.held:
        raise XdpqError("--stack-load goes with --held")
    try:
        rate = units.value(args.rate, Kind.RATE)
    except units.UnitError as exc:
        raise XdpqError(f"--rate {args.rate}: {exc}") from None
    if args.seconds <= 0:
        raise XdpqError(f"--seconds {args.seconds}: give a time above 0")
    w = workload(args.scheduler, args.packets)
    out = args.out or Path(tempfile.mkdtemp(prefix="xdpq-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    say = sys.stderr if args.json else sys.stdout  # stdout carries the JSON alone
    step = lambda msg: print(f"  {msg}", flush=True, file=say)  # noqa: E731
    if args.held:
        print(f"xdpq demo: {w.what}; {w.packets} packets of {w.size} B per flow", flush=True,
              file=say)
        report = run_demo(w, step, args.stack_load)
    else:
        print(f"xdpq demo: {w.what}; continuous, at --rate {args.rate}", flush=True, file=say)
        report = run_continuous(w, step, rate, args.seconds)
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
