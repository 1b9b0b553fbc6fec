#!/usr/bin/env python3
"""Forwarding rate and latency of the xdpq datapath on a veth test bed.

1. Forwarding rate of FIFO and STFQ (packets delivered per second at the
   receiver, the sender offering as much as it can) beside the live-redirect
   ceiling: a plain program redirecting live frames from the DUT into the same
   egress, measured in the same run. 64 B and 1500 B frames.
2. Latency (p50/p99, one-way, sender to receiver) of sparse high-priority
   packets behind a saturating low-priority load through strict priority, with
   BQL off, fixed and adaptive, and the throughput of each.
3. Idle cost: CPU time of the deploying process and timer fires while idle.

Prints a table on stderr and JSON as the last line on stdout.
Run: .venv/bin/python bench/datapath.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.bpf import BpfObject, compile_bpf, xdp_ctx  # noqa: E402
from xdpq.ir.link import Bql  # noqa: E402
from xdpq.library import compile_library  # noqa: E402
from xdpq.net.receiver import Receiver  # noqa: E402
from xdpq.net.testbed import DUT, TestBed  # noqa: E402
from xdpq.net.trafficgen import Flow, TrafficGen  # noqa: E402
from xdpq.runtime.deploy import Deployment  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def settle(rcv: Receiver, quiet_s: float = 0.2, timeout_s: float = 30.0) -> float:
    """Wait until arrivals stop; returns when the last one was seen."""
    last, last_change = rcv.received, time.monotonic()
    deadline = last_change + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.01)
        now_count = rcv.received
        if now_count != last:
            last, last_change = now_count, time.monotonic()
        elif time.monotonic() - last_change > quiet_s:
            break
    return last_change


def ceiling(size: int, count: int) -> float:
    with TestBed() as bed, Receiver(bed) as rcv:
        obj = BpfObject(compile_bpf(REPO / "kern/bench/redirect.bpf.c"))
        try:
            obj.section(".rodata")["ceiling_egress"] = bed.ports["out0"].ifindex
            obj.load()
            frame = TrafficGen.template_for(bed, size)
            with bed.enter(DUT):
                # Resident in the XDP dispatcher, as the datapath's program is.
                resident = obj.prog("ceiling").attach_xdp(bed.ports["in0"].ifindex)
                ctx = xdp_ctx(len(frame), ifindex=bed.ports["in0"].ifindex)
                start = time.monotonic()
                for _ in range(count // 256):
                    obj.prog("ceiling").run_live(frame, repeat=256, batch_size=64, ctx=ctx)
                resident.destroy()
            end = settle(rcv)
            return rcv.bss_other() / (end - start)
        finally:
            obj.close()


def deployment(sched: str, bql: Bql) -> Deployment:
    """A library scheduler between in0 and out0 (call inside the DUT namespace)."""
    compiled = compile_library(sched)
    return Deployment(compiled.obj_path, "in0", "out0", bql=bql, program=compiled.program)


def forward(sched: str, size: int, count: int, bql: Bql) -> dict[str, float]:
    flows = [Flow(size=size, dscp=8 * (i % 2), sport=100 + i) for i in range(8)]
    with TestBed() as bed, Receiver(bed) as rcv, TrafficGen(bed, flows) as gen:
        with bed.enter(DUT):
            d = deployment(sched, bql)
        try:
            start = time.monotonic()
            gen.send(count)
            end = settle(rcv)
        finally:
            d.close()
        return {"pps": rcv.received / (end - start), "delivered": rcv.received, "offered": count}


def latency(bql: Bql, count: int) -> dict[str, float]:
    low = Flow(size=1500, dscp=0, sport=1, weight=99)
    high = Flow(size=64, dscp=46, sport=2, weight=1)
    with TestBed() as bed, Receiver(bed) as rcv, TrafficGen(bed, [low, high]) as gen:
        with bed.enter(DUT):
            d = deployment("prio", bql)
        try:
            start = time.monotonic()
            gen.send(count)
            end = settle(rcv)
            limit = d.stats().bql_limit
        finally:
            d.close()
        arrivals = rcv.arrivals()
    lat = sorted(a.latency_ns for a in arrivals if a.flow == 1)
    bulk = sum(a.len for a in arrivals if a.flow == 0)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0  # noqa: E731
    return {"p50_ns": pct(0.50), "p99_ns": pct(0.99), "high_delivered": len(lat),
            "bulk_gbps": bulk * 8 / (end - start) / 1e9, "bql_limit_end": limit}


def idle(seconds: float) -> dict[str, float]:
    with TestBed() as bed, Receiver(bed) as rcv, TrafficGen(bed, [Flow()]) as gen:
        with bed.enter(DUT):
            d = deployment("fifo", Bql())
        try:
            gen.send(1000)
            settle(rcv)
            before, cpu0 = d.stats(), resource.getrusage(resource.RUSAGE_SELF)
            time.sleep(seconds)
            after, cpu1 = d.stats(), resource.getrusage(resource.RUSAGE_SELF)
        finally:
            d.close()
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {"seconds": seconds, "process_cpu_s": cpu,
            "timer_fires": after.timer_fires - before.timer_fires,
            "tx_calls": after.tx_calls - before.tx_calls}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller counts")
    args = ap.parse_args()
    count = 100_000 if args.quick else 500_000
    trials = 1 if args.quick else 3
    out: dict[str, object] = {"benchmark": "datapath", "count": count, "trials": trials}

    rates: dict[str, float] = {}
    for size in (64, 1500):
        rates[f"ceiling_{size}B"] = statistics.median(ceiling(size, count) for _ in range(trials))
        for sched in ("fifo", "stfq"):
            rates[f"{sched}_{size}B"] = statistics.median(
                forward(sched, size, count, Bql.parse("adaptive"))["pps"] for _ in range(trials))
        for name in (f"fifo_{size}B", f"stfq_{size}B"):
            log(f"{name:12} {rates[name] / 1e3:8.0f} kpps "
                f"= {rates[name] / rates[f'ceiling_{size}B']:.2f} of the ceiling "
                f"({rates[f'ceiling_{size}B'] / 1e3:.0f} kpps)")
    out["forwarding_pps"] = rates
    out["ratios"] = {name: rates[name] / rates[f"ceiling_{name.split('_')[1]}"]
                     for name in rates if not name.startswith("ceiling")}

    lat = {mode: latency(Bql.parse(mode), count) for mode in ("off", "fixed:30000", "adaptive")}
    for mode, r in lat.items():
        log(f"BQL {mode:12} high-prio p50 {r['p50_ns'] / 1e3:8.1f} us  p99 "
            f"{r['p99_ns'] / 1e3:8.1f} us  bulk {r['bulk_gbps']:.2f} Gbit/s")
    out["latency"] = lat
    off, ada = lat["off"], lat["adaptive"]
    out["targets"] = {
        "fifo_vs_ceiling": {"value": min(out["ratios"][f"fifo_{s}B"] for s in (64, 1500)),
                            "target": 0.8},
        "stfq_vs_ceiling": {"value": min(out["ratios"][f"stfq_{s}B"] for s in (64, 1500)),
                            "target": 0.7},
        "adaptive_p99_vs_off": {"value": ada["p99_ns"] / max(off["p99_ns"], 1), "target": 0.1},
        "adaptive_throughput_loss": {"value": 1 - ada["bulk_gbps"] / max(off["bulk_gbps"], 1e-9),
                                     "target": 0.05},
    }
    for t in out["targets"].values():  # type: ignore[union-attr]
        t["met"] = t["value"] >= t["target"] if t["target"] >= 0.7 else t["value"] <= t["target"]
    out["idle"] = idle(2.0)
    log(f"idle: {out['idle']}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
