#!/usr/bin/env python3
"""Simulator speed: simulated packets per second, and against ns.py.

One seeded workload (four flows of Poisson arrivals offering 40/30/20/10 %
of 95 % of a 100 Mbit/s link, frames of 64, 576 or 1500 bytes) runs through
the library's FIFO, STFQ, fq_codel and DRR in xdpq's simulator, both its
reference loop (Python) and its fast path (the same run in C, built from the
scheduler with clang: xdpq.sim.fast), and through ns.py's DRR server (a SimPy
simulator, installed into this virtualenv by the benchmark when missing; it
is no dependency of xdpq) fed the very same packets at the very same times,
with DRR's quantum 1500 bytes on both sides. Packets are built before the
clock starts on both sides, and the fast path's library before the rounds
(it is built once per scheduler and cached). Figures are CPU time of the
simulating process (one core; other processes on a shared machine do not
count), the best of ``--trials`` runs taken in rounds. Both DRRs must deliver
every packet, and the fast path give the reference's records, or the
benchmark fails. The targets (``drr_vs_nspy``, ``stfq_pkt_per_s``) are the
fast path's; ``reference`` holds the reference loop's figures beside them.

Closed loop: four CUBIC flows (``xdpq.sim.tcp``, 20 ms base RTT) fill the same
link for ``--tcp-seconds`` of simulated time through FIFO and fq_codel; their
figure is the segments that entered the scheduler per CPU second, the ACKs,
timers and the flows' own work included (``tcp`` in the JSON).

Progress on stderr, one JSON object as the last line on stdout.
Run: .venv/bin/python bench/sim.py [--packets N] [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.codegen.python import load_scheduler  # noqa: E402
from xdpq.library import library_path  # noqa: E402
from xdpq.sim.fast import PackedRecords  # noqa: E402
from xdpq.sim.run import Arrival, Result, Simulation  # noqa: E402
from xdpq.sim.tcp import TcpAgent, TcpSpec  # noqa: E402
from xdpq.sim.workload import flow_packet  # noqa: E402

RATE_BPS = 100_000_000
LOAD = 0.95
FLOW_SHARES = (0.4, 0.3, 0.2, 0.1)
SIZES = ((64, 0.4), (576, 0.2), (1500, 0.4))
QUANTUM = 1500
SCHEDULERS: dict[str, dict[str, Any]] = {
    "fifo": {},
    "stfq": {},
    "fq_codel": {"quantum": QUANTUM},
    "drr": {"quantum": QUANTUM},
}
TARGETS = {"stfq_pkt_per_s": 1_000_000, "drr_vs_nspy": 10.0}
TCP_SCHEDULERS = ("fifo", "fq_codel")
TCP_FLOWS, TCP_RTT_NS, TCP_JITTER_NS = 4, 20_000_000, 100_000

Trace = list[tuple[int, int, int]]  # (arrival ns, flow, bytes), in time order
# One run: (CPU seconds, packets delivered, packets simulated)
Run = Callable[[], tuple[float, int, int]]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def trace(packets: int, seed: int) -> Trace:
    rng = random.Random(seed)
    sizes, weights = zip(*SIZES, strict=True)
    mean = sum(s * w for s, w in SIZES)
    pps = LOAD * RATE_BPS / (8 * mean)
    t, out = 0.0, []
    for _ in range(packets):
        t += rng.expovariate(pps) * 1e9
        flow = rng.choices(range(len(FLOW_SHARES)), FLOW_SHARES)[0]
        out.append((int(t), flow, rng.choices(sizes, weights)[0]))
    return out


def measure(runs: dict[str, Run], trials: int) -> dict[str, dict[str, Any]]:
    """Each simulation ``trials`` times, in rounds (so that a busy spell of the machine
    hits them all alike); the fastest run of each counts."""
    got: dict[str, list[tuple[float, int, int]]] = {name: [] for name in runs}
    for n in range(trials):
        for name, run in runs.items():
            got[name].append(run())
            seconds, _, packets = got[name][-1]
            log(f"round {n + 1}/{trials} {name}: {packets / seconds:,.0f} pkt/s")
    out = {}
    for name, results in got.items():
        outcomes = {(d, p) for _, d, p in results}
        if len(outcomes) != 1:  # a run is a pure function of its inputs
            raise SystemExit(f"runs of {name} differ: {sorted(outcomes)} (delivered, packets)")
        ((delivered, packets),) = outcomes
        seconds = min(s for s, _, _ in results)
        out[name] = {
            "cpu_seconds": round(seconds, 4),
            "packets": packets,
            "delivered": delivered,
            "pkt_per_s": round(packets / seconds),
        }
    return out


def simulate(name: str, tr: Trace, fast: bool) -> tuple[float, Result]:
    """One run: CPU seconds, and what it gave."""
    arrivals = [Arrival(t, flow_packet(flow, size)) for t, flow, size in tr]
    sim = Simulation(load_scheduler(library_path(name), SCHEDULERS[name]), RATE_BPS, fast=fast)
    start = time.process_time()
    result = sim.run(arrivals)
    return time.process_time() - start, result


def xdpq_run(name: str, tr: Trace, fast: bool) -> Run:
    def run() -> tuple[float, int, int]:
        seconds, result = simulate(name, tr, fast)
        if fast and not isinstance(result.records, PackedRecords):
            raise SystemExit(f"the fast path did not run {name} (stderr says why)")
        return seconds, result.counters["dequeued"], len(tr)

    return run


def tcp_run(name: str, seconds: float) -> Run:
    """Four CUBIC flows through ``name`` for ``seconds`` of simulated time (the
    reference loop: the fast path has no closed-loop sources)."""
    path = library_path(name)

    def run() -> tuple[float, int, int]:
        agent = TcpAgent([TcpSpec(i, rtt_ns=TCP_RTT_NS, jitter_ns=TCP_JITTER_NS, seed=i)
                          for i in range(TCP_FLOWS)])
        sim = Simulation(load_scheduler(path), RATE_BPS)
        start = time.process_time()
        result = sim.run([], until=int(seconds * 1e9), closed=agent)
        cpu = time.process_time() - start
        return cpu, result.counters["dequeued"], len(result.records)

    return run


def same_records(name: str, tr: Trace) -> float:
    """The fast path's records are the reference's (else the benchmark fails); the CPU
    seconds it takes to make Record objects of its packed records (outside the figures,
    as for any reader of a run's records)."""
    _, ref = simulate(name, tr, False)
    _, fast = simulate(name, tr, True)
    start = time.process_time()
    records = list(fast.records)
    seconds = time.process_time() - start
    if records != ref.records or fast.counters != ref.counters:
        raise SystemExit(f"the fast path's records of {name} are not the reference's")
    return seconds


def nspy_import() -> str | None:
    """None when ns.py can be used (installing it if need be), else why not."""
    try:
        importlib.import_module("ns.scheduler.drr")
        return None
    except ImportError:
        pass
    log("ns.py is not installed: pip install ns.py (for this benchmark only)")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "ns.py"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pip install ns.py: {exc}"
    if done.returncode:
        return f"pip install ns.py failed: {(done.stderr or done.stdout).strip()[-400:]}"
    importlib.invalidate_caches()
    try:
        importlib.import_module("ns.scheduler.drr")
    except Exception as exc:  # whatever breaks, the JSON says so
        return f"ns.py does not import: {exc!r}"
    return None


def nspy_run(tr: Trace) -> Run:
    import simpy
    from ns.packet.packet import Packet
    from ns.packet.sink import PacketSink
    from ns.scheduler.drr import DRRServer

    def run() -> tuple[float, int, int]:
        packets = [(t / 1e9, Packet(t / 1e9, s, i, flow_id=f)) for i, (t, f, s) in enumerate(tr)]
        env = simpy.Environment()
        # ns.py's quantum is 1500 B times weight / smallest weight: 1500 B for all.
        server = DRRServer(env, RATE_BPS, [1] * len(FLOW_SHARES))
        sink = PacketSink(env, rec_arrivals=False)
        server.out = sink

        def feed() -> Any:
            for at, pkt in packets:
                yield env.timeout(at - env.now)
                server.put(pkt)

        env.process(feed())
        start = time.process_time()
        env.run()
        seconds = time.process_time() - start
        return seconds, sum(sink.packets_received.values()), len(tr)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=60_000, help="packets in the workload")
    ap.add_argument("--trials", type=int, default=5, help="runs of each; the best counts")
    ap.add_argument("--quick", action="store_true", help="10k packets, one trial")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tcp-seconds", type=float, default=5.0,
                    help="simulated time of the TCP runs")
    args = ap.parse_args()
    packets, trials = (10_000, 1) if args.quick else (args.packets, args.trials)
    tcp_seconds = 1.0 if args.quick else args.tcp_seconds
    tr = trace(packets, args.seed)
    out: dict[str, Any] = {
        "packets": packets,
        "trials": trials,
        "workload": {
            "rate_bps": RATE_BPS,
            "load": LOAD,
            "flow_shares": FLOW_SHARES,
            "sizes": dict(SIZES),
            "simulated_ns": tr[-1][0],
            "seed": args.seed,
        },
    }
    for name in SCHEDULERS:  # build (or load) the fast path's libraries
        xdpq_run(name, tr[:10], True)()
    runs = {**{name: xdpq_run(name, tr, False) for name in SCHEDULERS},
            **{f"fast_{name}": xdpq_run(name, tr, True) for name in SCHEDULERS}}
    runs.update({f"tcp_{name}": tcp_run(name, tcp_seconds) for name in TCP_SCHEDULERS})
    error = nspy_import()
    if error is None:
        runs["nspy_drr"] = nspy_run(tr)
    else:
        log(error)
    got = measure(runs, trials)
    out["fast"] = {name: got[f"fast_{name}"] for name in SCHEDULERS}
    out["reference"] = {name: got[name] for name in SCHEDULERS}
    for name in SCHEDULERS:
        out["fast"][name]["records_cpu_seconds"] = round(same_records(name, tr), 4)
    out["stfq_pkt_per_s"] = out["fast"]["stfq"]["pkt_per_s"]
    out["reference_stfq_pkt_per_s"] = out["reference"]["stfq"]["pkt_per_s"]
    out["tcp"] = {
        "workload": {"flows": TCP_FLOWS, "cc": "cubic", "rtt_ns": TCP_RTT_NS,
                     "jitter_ns": TCP_JITTER_NS, "rate_bps": RATE_BPS,
                     "simulated_ns": int(tcp_seconds * 1e9)},
        **{name: got[f"tcp_{name}"] for name in TCP_SCHEDULERS},
    }
    if error is None:
        nspy = got["nspy_drr"]["pkt_per_s"]
        out["nspy"] = {"version": metadata.version("ns.py"), "drr": got["nspy_drr"]}
        out["drr_vs_nspy"] = round(out["fast"]["drr"]["pkt_per_s"] / nspy, 2)
        out["reference_drr_vs_nspy"] = round(out["reference"]["drr"]["pkt_per_s"] / nspy, 2)
    else:
        out["nspy"] = {"error": error}
    # The comparison is fair only if the DRRs did all the work (fq_codel may drop).
    for side in (out["fast"]["drr"], out["reference"]["drr"], out["nspy"].get("drr")):
        if side is not None and side["delivered"] != packets:
            raise SystemExit(f"a simulation delivered {side['delivered']} of {packets} packets")
    out["targets"] = TARGETS
    out["met"] = {
        "stfq_pkt_per_s": out["stfq_pkt_per_s"] >= TARGETS["stfq_pkt_per_s"],
        "drr_vs_nspy": out.get("drr_vs_nspy", 0) >= TARGETS["drr_vs_nspy"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
