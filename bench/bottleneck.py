#!/usr/bin/env python3
"""xdpq as the bottleneck of a link, measured in one run on one veth test bed.

1. **Rates.** At 10 Mbit/s, 100 Mbit/s, 500 Mbit/s and 1 Gbit/s, each offered
   twice the rate in 1514-byte frames: xdpq's ``--rate`` (the library's FIFO),
   the library's ``tbf`` scheduler, and the kernel's ``tc qdisc tbf`` on a
   bridge of the same bed; the error of each at the receiver's interface over
   a steady window (``xdpq/testing/rates.py``). Target: |error| <= max(tc's,
   0.5 %) at every rate, for ``--rate`` and for ``tbf``.
2. **Continuous shares.** ``stfq`` with weights 1:2:3, three UDP flows each
   offered half the rate (150 % in all) through ``--rate 100Mbit`` for
   seconds, beside the simulator on the same flows
   (``xdpq/demo/continuous.py``). Targets: every share within 2 points of
   the weights, kernel and simulator within 2 points of each other.
3. **Bufferbloat.** Four CUBIC flows (iperf3) and a ping every 50 ms through
   ``fq_codel`` and through the library's FIFO (1000 packets) at ``--rate
   100Mbit``. Targets: ping's p99 under fq_codel <= 0.2 of FIFO's; TCP goodput
   >= 0.9 of the rate.
4. **A deep ring.** ``prio`` in front of the NIC stand-in (a tap whose ring of
   1000 frames drains at 100 Mbit/s, ``xdpq/net/tapnic.py``): a bulk flow
   offered 120 % of the line rate and a sparse high-priority one, with BQL off,
   fixed and adaptive (the stand-in reporting completions as a driver with BQL
   support would) and with ``--rate`` at 97 % of the line rate
   (``xdpq/testing/deepring.py``). Targets: the high-priority flow's p99 with
   ``--rate`` <= 0.1 of BQL off's, and throughput lost <= 5 %.

The 2-core VM is shared: figures move from run to run. Prints progress on
stderr and JSON as the last line on stdout, with ``targets`` as every benchmark
has them (``xdpq/testing/targets.py``).

Run: .venv/bin/python bench/bottleneck.py [--quick] [--only rates,shares,tcp,ring]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.demo import continuous  # noqa: E402
from xdpq.ir.link import MTU_FRAME  # noqa: E402
from xdpq.library import compile_library  # noqa: E402
from xdpq.net.tapnic import TapNic  # noqa: E402
from xdpq.net.testbed import TestBed  # noqa: E402
from xdpq.net.trafficgen import Flow, TrafficGen  # noqa: E402
from xdpq.sim.metrics import percentile  # noqa: E402
from xdpq.testing import deepring, rates  # noqa: E402
from xdpq.testing.continuous import tcp_under_load  # noqa: E402
from xdpq.testing.targets import add_only, at_least, at_most, chosen, report  # noqa: E402

RATES = (10_000_000, 100_000_000, 500_000_000, 1_000_000_000)
RATE = 100_000_000  # of the shares, bufferbloat and deep-ring sections
RATE_TARGET_PCT = 0.5
SECTIONS = ("rates", "shares", "tcp", "ring")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rate_section(bed: TestBed, seconds: float, out: dict, targets: dict) -> None:
    points = []
    with TrafficGen(bed, [Flow(size=MTU_FRAME)]) as gen:
        for rate in RATES:
            p: dict[str, object] = {"rate_bps": rate,
                                    "xdpq_rate": rates.xdpq_rate(bed, gen, rate, seconds),
                                    "xdpq_tbf": rates.xdpq_tbf(bed, gen, rate, seconds)}
            with rates.bridged(bed):
                p["tc_tbf"] = rates.tc_tbf(bed, gen, rate, seconds)
            bound = max(abs(p["tc_tbf"]["error_pct"]), RATE_TARGET_PCT)  # type: ignore[index]
            for how in ("xdpq_rate", "xdpq_tbf"):
                err = abs(p[how]["error_pct"])  # type: ignore[index]
                targets[f"{how}_error_pct_{rate // 10**6}M"] = at_most(err, bound)
            log(f"{rate / 1e6:6.0f} Mbit/s  --rate {p['xdpq_rate']['error_pct']:+.3f} %  "  # type: ignore[index]
                f"tbf.xdpq {p['xdpq_tbf']['error_pct']:+.3f} %  "  # type: ignore[index]
                f"tc tbf {p['tc_tbf']['error_pct']:+.3f} %")  # type: ignore[index]
            points.append(p)
    out["rates"] = points


def shares_section(bed: TestBed, seconds: float, out: dict, targets: dict) -> None:
    compiled = compile_library("stfq")
    params = {"weight": [1, 2, 3, 1, 1, 1, 1, 1]}
    offered = continuous.Offered((0, 8, 16))
    want = continuous.weighted_fair((1, 2, 3), [offered.load / 3] * 3)
    k = continuous.kernel(bed, compiled, params, RATE, offered, seconds)
    s = continuous.simulated(compiled, params, RATE, offered, seconds)
    pp = lambda a, b: max(100 * abs(x - y) for x, y in zip(a, b, strict=True))  # noqa: E731
    dev = max(pp(k.shares, want), pp(s.shares, want))
    apart = pp(k.shares, s.shares)
    out["shares"] = {"weights": [1, 2, 3], "offered_load": offered.load, "want": want,
                     "kernel": list(k.shares), "simulator": list(s.shares),
                     "kernel_rate_bps": k.rate_bps, "kernel_drops": k.drops,
                     "simulator_drops": s.drops}
    targets["stfq_share_vs_weights_pp"] = at_most(dev, 2.0)
    targets["stfq_kernel_vs_sim_pp"] = at_most(apart, 2.0)
    log(f"stfq 1:2:3 at 150 %: kernel {[round(x, 4) for x in k.shares]}, simulator "
        f"{[round(x, 4) for x in s.shares]} (worst {dev:.2f} pp from the weights)")


def tcp_section(bed: TestBed, seconds: float, out: dict, targets: dict) -> None:
    runs = {}
    for sched in ("fifo", "fq_codel"):
        r = tcp_under_load(bed, compile_library(sched), RATE, seconds)
        rtt = sorted(r.rtt_ms)
        runs[sched] = {"rtt_p50_ms": percentile(rtt, 50), "rtt_p99_ms": percentile(rtt, 99),
                       "pings": r.pings, "answered": len(r.rtt_ms),
                       "goodput_bps": r.goodput_bps, "retransmits": r.retransmits,
                       "drops": r.drops}
        log(f"{sched:9} ping p50 {runs[sched]['rtt_p50_ms']:.2f} ms, p99 "
            f"{runs[sched]['rtt_p99_ms']:.2f} ms, TCP {r.goodput_bps / 1e6:.1f} Mbit/s")
    out["tcp"] = {"rate_bps": RATE, "streams": 4, "congestion": "cubic", **runs}
    ratio = runs["fq_codel"]["rtt_p99_ms"] / max(runs["fifo"]["rtt_p99_ms"], 1e-9)
    good = min(runs[s]["goodput_bps"] for s in runs) / RATE
    targets["fq_codel_vs_fifo_rtt_p99"] = at_most(ratio, 0.2)
    targets["tcp_goodput_of_rate"] = at_least(good, 0.9)


def ring_section(bed: TestBed, seconds: float, out: dict, targets: dict) -> None:
    hows = ("off", "fixed:30000", "adaptive", f"rate {RATE * 97 // 100}")
    results = {}
    with TapNic(bed, rate_bps=RATE, ring=1000) as nic:
        for how in hows:
            r = deepring.run(bed, nic, how, seconds)
            results[how] = {"refused": r.refused, "high_p99_ns": r.high_p99_ns,
                            "high_p50_ns": r.high_p50_ns, "low_p50_ns": r.low_p50_ns,
                            "wire_bps": r.wire_bps, "ring_drops": r.ring_drops}
            log(f"deep ring, {how:12} high p99 {r.high_p99_ns / 1e6:8.2f} ms, p50 "
                f"{r.high_p50_ns / 1e6:7.2f} ms; bulk p50 {r.low_p50_ns / 1e6:7.2f} ms; "
                f"wire {r.wire_bps / 1e6:6.2f} Mbit/s")
        realtime = nic.realtime
    out["ring"] = {"line_rate_bps": RATE, "ring_frames": 1000, "realtime_drain": realtime,
                   **results}
    off, rate = results["off"], results[hows[-1]]
    ratio = rate["high_p99_ns"] / max(off["high_p99_ns"], 1)
    loss = 1 - rate["wire_bps"] / max(off["wire_bps"], 1e-9)
    targets["deep_ring_rate_p99_vs_off"] = at_most(ratio, 0.1)
    targets["deep_ring_rate_throughput_loss"] = at_most(loss, 0.05)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    add_only(ap, SECTIONS)
    args = ap.parse_args()
    only = chosen(ap, args.only, SECTIONS)
    scale = 0.5 if args.quick else 1.0
    out: dict[str, object] = {"bench": "bottleneck", "quick": args.quick}
    targets: dict[str, dict[str, object]] = {}
    with TestBed() as bed:
        if "rates" in only:
            rate_section(bed, 3.0 * scale, out, targets)
        if "shares" in only:
            shares_section(bed, 10.0 * scale, out, targets)
        if "tcp" in only:
            tcp_section(bed, 10.0 * scale, out, targets)
        if "ring" in only:
            ring_section(bed, 5.0 * scale, out, targets)
    out["targets"] = targets
    report(targets)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
