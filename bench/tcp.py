#!/usr/bin/env python3
"""The simulator's TCP beside the kernel's, on the veth bed: figures for each experiment.

Each experiment is N TCP flows with given base RTTs through a library scheduler
at 50 Mbit/s (``xdpq/testing/tcpbed.py``): in the kernel (iperf3 -C cubic, the
base RTTs from the delay program on the ACKs' path) and in the simulator
(xdpq.sim.tcp, the same base RTTs plus the bed's own round trip as ping
measured it, starting when the kernel's flows did). For each: when each flow
started, per-flow goodput shares (ranked within flows of one RTT; the
simulator's the mean over ``--seeds`` runs), the queueing delay at the 10th,
50th, 90th and 99th percentiles (``queue_delay_ns``: the scheduler's queues;
``srtt_delay_ns``: the senders' smoothed RTTs less the base),
retransmissions, drops and ECN marks. Targets: shares within 5
percentage points, the median delay within 25 %.

The 2-core VM is shared: kernel figures move from run to run (a FIFO's
shares most: which flow it favours is chance).

Run: .venv/bin/python bench/tcp.py [--quick] [--only fq_codel,fifo,...] [--seeds N]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.library import compile_library  # noqa: E402
from xdpq.net.testbed import TestBed  # noqa: E402
from xdpq.testing.tcpbed import (  # noqa: E402
    TcpFlows,
    TcpOutcome,
    kernel,
    mean_shares,
    seeded_shares,
    simulated,
)

MS = 1_000_000
RATE = 50_000_000
# name: (scheduler, base RTTs in ms, ECN, seconds)
EXPERIMENTS = {
    "fq_codel": ("fq_codel", (20, 20, 20, 20), False, 20),
    "fq_codel_ecn": ("fq_codel", (20, 20, 20, 20), True, 20),
    "fq_codel_rtts": ("fq_codel", (10, 10, 40, 40), False, 20),
    "fifo": ("fifo", (20, 20, 20, 20), False, 40),
    "fifo_rtts": ("fifo", (10, 10, 40, 40), False, 40),
}
PERCENTILES = (10, 50, 90, 99)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def side(o: TcpOutcome, exp: TcpFlows) -> dict[str, object]:
    return {"goodput_bps": list(o.goodput_bps), "shares": list(o.shares),
            "ranked_shares": list(o.ranked_shares(exp)),
            "queue_delay_ns": {f"p{q}": o.delay_percentile(q) for q in PERCENTILES},
            "srtt_delay_ns": {f"p{q}": o.srtt_percentile(q) for q in PERCENTILES},
            "retransmits": list(o.retransmits), "drops": o.drops, "marks": o.marks}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="half as long")
    ap.add_argument("--only", default=",".join(EXPERIMENTS),
                    help=f"experiments to run, of {','.join(EXPERIMENTS)}")
    ap.add_argument("--seeds", type=int, default=4, help="simulator runs per experiment")
    args = ap.parse_args()
    only = args.only.split(",")
    if unknown := set(only) - set(EXPERIMENTS):
        ap.error(f"no experiment {', '.join(sorted(unknown))}: choose of "
                 f"{', '.join(EXPERIMENTS)}")
    out: dict[str, object] = {"bench": "tcp", "rate_bps": RATE, "quick": args.quick}
    targets: dict[str, dict[str, object]] = {}
    with TestBed() as bed:
        for name in only:
            sched, rtts, ecn, seconds = EXPERIMENTS[name]
            compiled = compile_library(sched)
            exp = TcpFlows(tuple(r * MS for r in rtts), RATE,
                           seconds / 2 if args.quick else seconds, ecn=ecn)
            k = kernel(bed, compiled, {}, exp)
            exp = replace(exp, host_ns=k.host_ns, starts_ns=k.starts_ns)
            s = simulated(compiled, {}, exp)
            runs = seeded_shares(compiled, {}, exp, args.seeds)
            want = mean_shares(runs)
            apart = max(abs(a - b) for a, b in zip(k.ranked_shares(exp), want, strict=True))
            k50, s50 = k.delay_percentile(50), s.delay_percentile(50)
            off = abs(s50 - k50) / k50 if k50 else float("inf")
            out[name] = {"scheduler": sched, "rtts_ns": list(exp.rtts_ns), "ecn": ecn,
                         "seconds": exp.seconds, "host_ns": k.host_ns,
                         "starts_ns": list(k.starts_ns),
                         "kernel": side(k, exp), "simulator": side(s, exp),
                         "simulator_expected_shares": list(want),
                         "simulator_seed_shares": [list(r) for r in runs]}
            targets[f"{name}_shares_pp"] = {"value": 100 * apart, "target": 5.0,
                                            "met": apart <= 0.05}
            targets[f"{name}_delay_p50_rel"] = {"value": off, "target": 0.25,
                                                "met": off <= 0.25}
            log(f"{name}: shares kernel {[round(x, 3) for x in k.ranked_shares(exp)]}, "
                f"simulator {[round(x, 3) for x in want]} ({100 * apart:.1f} pp); queue delay "
                f"p50 kernel {k50 / MS:.2f} ms, simulator {s50 / MS:.2f} ms ({100 * off:.0f} %; "
                f"srtt less base {k.srtt_percentile(50) / MS:.2f} / "
                f"{s.srtt_percentile(50) / MS:.2f} ms); "
                f"drops {k.drops} / {s.drops}; marks {k.marks} / {s.marks}")
    out["targets"] = targets
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
