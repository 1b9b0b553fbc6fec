#!/usr/bin/env python3
"""Achieved rate of xdpq's link rate (``--rate``) beside tc's tbf, on one veth test bed.

For each rate (10, 100, 500 and 1000 Mbit/s by default), the sender offers
twice the rate in 1514-byte frames for a few seconds, through

- xdpq: the library's FIFO between in0 and out0 with ``--rate R --latency 50ms``
  (the default burst; BQL as deploy has it under a rate, off, unless ``--bql``);
- tbf: the DUT's own stack forwarding in0 → out0, with ``tc qdisc tbf rate R
  burst B latency 50ms`` on out0, B being the same burst (1 ms at the rate) plus
  one frame, tbf's bucket holding the frame itself.

The achieved rate is counted in frame bytes (Ethernet header to the end of the
payload, as both count) at the receiver's interface, over the arrival times the
receiver logs, without the first and last fifth of their span (the queue
filling up, the drain). The error is (achieved - rate) / rate. The target of
the issue: |xdpq's error| <= max(|tbf's|, 0.5 %) at every rate.

The 2-core VM is shared: the figures move from run to run. Each xdpq point
reports the scheduler's stops by cause; "empty" stops mean the sender fell
behind and the queue ran dry (not the shaper's doing).

Prints a table on stderr and JSON as the last line on stdout.
Run: .venv/bin/python bench/rate.py [--quick] [--rates 10Mbit,1Gbit] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pyroute2.ethtool import Ethtool  # noqa: E402

from xdpq.ir.link import DEFAULT_BURST_NS, MTU_FRAME, NS_BITS, Bql, Shaper  # noqa: E402
from xdpq.library import compile_library  # noqa: E402
from xdpq.net.receiver import Receiver, steady_rate  # noqa: E402
from xdpq.net.testbed import DUT, TestBed  # noqa: E402
from xdpq.net.trafficgen import Flow, TrafficGen  # noqa: E402
from xdpq.runtime.deploy import Deployment  # noqa: E402
from xdpq.units import quantity  # noqa: E402

LATENCY_NS = 50_000_000
TARGET_PCT = 0.5


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def offer(bed: TestBed, gen: TrafficGen, rate: int, seconds: float) -> dict[str, float]:
    """Twice ``rate`` for ``seconds``; the rate the receiver saw, once all is in."""
    with Receiver(bed) as rcv:
        pps = 2 * rate / (8 * MTU_FRAME)
        sent = gen.send(count=int(pps * seconds), rate_pps=pps, timeout_s=4 * seconds + 10)
        time.sleep(0.1 + (LATENCY_NS + DEFAULT_BURST_NS) / 1e9)  # the queue drains
        arrivals = rcv.arrivals()
    got = steady_rate(arrivals)
    return {"achieved_bps": round(got), "error_pct": round(100 * (got - rate) / rate, 3),
            "offered_frames": int(sent), "received_frames": len(arrivals),
            "sender_s": round(sent.elapsed_s, 2)}


def xdpq_point(bed: TestBed, gen: TrafficGen, rate: int, seconds: float,
               bql: Bql | None) -> dict[str, object]:
    compiled = compile_library("fifo")
    with bed.enter(DUT):
        d = Deployment(compiled.obj_path, "in0", "out0", bql=bql, program=compiled.program,
                       shaper=Shaper(rate, latency_ns=LATENCY_NS))
    try:
        before = d.stats().stops.counts
        out: dict[str, object] = dict(offer(bed, gen, rate, seconds))
        after = d.stats()
    finally:
        d.close()
    out["stops"] = {k: after.stops.counts[k] - before[k] for k in before}
    out["drops"] = {k: v.packets for k, v in after.counters.items()
                    if k.startswith("drop_") and v.packets}
    return out


def tbf_point(bed: TestBed, gen: TrafficGen, rate: int, seconds: float) -> dict[str, object]:
    ns = bed.ns[DUT]
    burst = DEFAULT_BURST_NS * rate // NS_BITS + MTU_FRAME
    tc = ["tc", "-n", ns, "qdisc"]
    subprocess.run([*tc, "replace", "dev", "out0", "root", "tbf", "rate", f"{rate}bit",
                    "burst", str(burst), "latency", f"{LATENCY_NS // 1000}us"], check=True)
    try:
        out: dict[str, object] = dict(offer(bed, gen, rate, seconds))
    finally:
        subprocess.run([*tc, "del", "dev", "out0", "root"], check=True)
    out["burst_bytes"] = burst
    return out


def forwarding(bed: TestBed) -> None:
    """Let the DUT's stack forward in0 → out0 (tbf's path); in0 takes the sender's
    redirected frames once it has GRO on (or an XDP program, as with xdpq)."""
    with bed.enter(DUT):
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        with Ethtool() as et:
            et.set_offload_flag("in0", "generic-receive-offload", 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1.5 s per point instead of 3")
    ap.add_argument("--seconds", type=float, help="seconds of offered load per point")
    ap.add_argument("--rates", default="10Mbit,100Mbit,500Mbit,1Gbit")
    ap.add_argument("--bql", help="xdpq's BQL (default: deploy's under a rate, off)")
    ap.add_argument("--no-tbf", action="store_true", help="xdpq only")
    args = ap.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 3.0)
    rates = [quantity(r).value for r in args.rates.split(",")]
    points = []
    with TestBed() as bed, TrafficGen(bed, [Flow(size=MTU_FRAME)]) as gen:
        for rate in rates:
            point: dict[str, object] = {"rate_bps": rate}
            point["xdpq"] = xdpq_point(bed, gen, rate, seconds,
                                       Bql.parse(args.bql) if args.bql else None)
            log(f"{rate / 1e6:7.0f} Mbit/s  xdpq {point['xdpq']['error_pct']:+.3f} %  "
                f"stops {point['xdpq']['stops']}")
            if not args.no_tbf:
                forwarding(bed)
                point["tbf"] = tbf_point(bed, gen, rate, seconds)
                log(f"{'':15}tbf  {point['tbf']['error_pct']:+.3f} %")
                bound = max(abs(point["tbf"]["error_pct"]), TARGET_PCT)
                point["target_met"] = abs(point["xdpq"]["error_pct"]) <= bound
            points.append(point)
    out = {"bench": "rate", "seconds_per_point": seconds, "frame_bytes": MTU_FRAME,
           "offered": "2x the rate", "xdpq_bql": args.bql or "off (default under a rate)",
           "latency_ns": LATENCY_NS,
           "burst_ns": DEFAULT_BURST_NS,
           "target": f"|xdpq error| <= max(|tbf error|, {TARGET_PCT} %)", "points": points}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
