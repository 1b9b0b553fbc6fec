#!/usr/bin/env python3
"""Soak: a deployed scheduler under mixed traffic for minutes (issue 8, point 6).

The product runs as a user runs it: ``xdpq deploy schedulers/NAME.xdpq`` in
the foreground, in its own process (compiled library scheduler, attached,
timer, live-frame transmitter, adaptive BQL), on a veth test bed, with a
private registry. This process drives the traffic generator through phases
until ``--seconds`` have passed (saturating bursts of mixed sizes, classes and
weights; paced phases below the link's rate; short bursts with gaps; idle)
and reads the deployment's maps through their pins every 50 ms (as ``xdpq
stats`` does): slots in use (the pool's low-water mark) and backlog. The RSS
of the deploying process is read at the start (after bring-up and a warm-up
phase of traffic) and at the end (traffic over, queues empty).

Then the deployment is stopped (SIGTERM: detach, drain, flush) and the books
balanced from its maps, which this process still holds: frames sent ==
received + refused by s0 + dropped on arrival + passed + refused by the
egress; transmitted == received + drop_xmit; stored (enqueued, or forwarded
unclaimed through the bypass FIFO) == transmitted + AQM drops + flushed; no
slot in use; every slot back.

Prints progress on stderr and JSON as the last line on stdout; exit status 1
if conservation failed, a slot leaked or the memory grew more than 5 %.
Run: .venv/bin/python bench/soak.py [--seconds 180] [--sched stfq]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xdpq.ir.outcomes import QUEUE_DROPS, STORED  # noqa: E402
from xdpq.net.receiver import Receiver  # noqa: E402
from xdpq.net.testbed import DUT, TestBed  # noqa: E402
from xdpq.net.trafficgen import Flow, TrafficGen  # noqa: E402
from xdpq.runtime import service  # noqa: E402
from xdpq.runtime.counters import read_counters  # noqa: E402
from xdpq.testing.malformed import free_slots  # noqa: E402

NAME = "soak"
WARMUP_S = 20.0
MEMORY_GROWTH_MAX_PCT = 5.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"process {pid} has no VmRSS")


def mixed_flows(rng: random.Random, n: int) -> list[Flow]:
    return [Flow(size=rng.choice((64, 128, 512, 1024, 1514, rng.randint(64, 1514))),
                 dscp=rng.choice((0, 8, 10, 18, 26, 34, 46)), sport=10000 + rng.randrange(50000),
                 dport=rng.choice((9, 53, 80, 443)), weight=rng.choice((1, 1, 2, 4)))
            for _ in range(n)]  # fmt: skip


def one_phase(gen: TrafficGen, rng: random.Random, left: float) -> tuple[str, int]:
    phase = rng.choice(("saturate", "saturate", "paced", "bursts", "idle"))
    flows = mixed_flows(rng, rng.randint(1, 16))
    n = 0
    if phase == "saturate":
        n = gen.send(flows, count=rng.randint(50_000, 400_000), timeout_s=min(3.0, left))
    elif phase == "paced":
        rate = rng.choice((20_000, 100_000, 300_000))
        n = gen.send(flows, count=int(rate * min(2.0, left)), rate_pps=rate,
                     timeout_s=min(3.0, left))  # fmt: skip
    elif phase == "bursts":
        end = time.monotonic() + left
        for _ in range(20):
            if time.monotonic() >= end:
                break
            n += gen.send(flows, count=rng.randint(100, 5000), timeout_s=1.0)
            time.sleep(rng.uniform(0.005, 0.05))
    else:
        time.sleep(min(rng.uniform(0.2, 1.0), left))
    return phase, n


def wait_quiet(bss: object, timeout_s: float = 10.0) -> None:
    """Until nothing is queued or staged (read twice, 100 ms apart)."""
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        quiet = quiet + 1 if not (bss["xdpq_backlog"] or bss["xdpq_staged"]) else 0  # type: ignore[index]
        time.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0, help="traffic time after warm-up")
    ap.add_argument("--sched", default="stfq", help="a scheduler of schedulers/ (default stfq)")
    ap.add_argument("--bql", default="adaptive")
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    private = Path(tempfile.mkdtemp(prefix="xdpq-soak-", dir="/run"))
    os.environ["XDPQ_RUN_DIR"] = str(private / "run")
    os.environ["XDPQ_PIN_DIR"] = f"/sys/fs/bpf/{private.name}"
    phases: dict[str, int] = {}
    samples = max_in_use = max_backlog = sent = 0
    stop = threading.Event()
    sched = REPO / f"schedulers/{args.sched}.xdpq"
    with TestBed() as bed, Receiver(bed) as rcv, TrafficGen(bed) as gen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "xdpq.cli", "deploy", str(sched),
             "--in", "in0", "--out", "out0", "--netns", bed.ns[DUT], "--bql", args.bql,
             "--name", NAME],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
            cwd=REPO)  # fmt: skip
        try:
            assert proc.stdout is not None
            log(proc.stdout.readline().rstrip())
            view = service.open_view(NAME)
            bss = view.obj.section(".bss")
            pool = view.obj.map("xdpq_slots").max_entries

            def sampler() -> None:
                nonlocal samples, max_in_use, max_backlog
                while not stop.wait(0.05):
                    samples += 1
                    max_in_use = max(max_in_use, bss["xdpq_slots_in_use"])
                    max_backlog = max(max_backlog, bss["xdpq_backlog"])

            smp = threading.Thread(target=sampler, name="sampler", daemon=True)
            smp.start()

            def drive(seconds: float, counted: bool) -> None:
                nonlocal sent
                t0 = time.monotonic()
                deadline, next_log = t0 + seconds, t0 + 10
                while (now := time.monotonic()) < deadline:
                    phase, n = one_phase(gen, rng, deadline - now)
                    sent += n
                    if counted:
                        phases[phase] = phases.get(phase, 0) + n
                    if time.monotonic() >= next_log:
                        next_log += 10
                        log(
                            f"{time.monotonic() - t0:6.0f} s: sent {sent}, received "
                            f"{rcv.received}, backlog {bss['xdpq_backlog']}, slots in use "
                            f"{bss['xdpq_slots_in_use']}, RSS {rss_kib(proc.pid)} KiB"
                        )

            drive(WARMUP_S, counted=False)
            wait_quiet(bss)
            rss_start = rss_kib(proc.pid)
            t0 = time.monotonic()
            drive(args.seconds, counted=True)
            elapsed = time.monotonic() - t0
            wait_quiet(bss)
            rss_end = rss_kib(proc.pid)
            stop.set()
            smp.join()
            proc.send_signal(signal.SIGTERM)  # detach, drain, flush, remove its records
            out, _ = proc.communicate(timeout=60)
            log(out.rstrip())
            # The deploying process is gone; its maps live on while this view holds them.
            c = {k: v.packets for k, v in read_counters(view.obj).items()}
            slots_in_use, slots_peak = bss["xdpq_slots_in_use"], bss["xdpq_slots_peak"]
            backlog, staged = bss["xdpq_backlog"], bss["xdpq_staged"]
            free = sorted(free_slots(view.obj))
            view.close()
            received, refused = rcv.received, gen.refused
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            subprocess.run(
                [sys.executable, "-m", "xdpq.cli", "down", NAME],
                capture_output=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            for root in (Path(os.environ["XDPQ_RUN_DIR"]), Path(os.environ["XDPQ_PIN_DIR"])):
                if root.exists():
                    root.rmdir()
            private.rmdir()
    drops = {k: v for k, v in c.items() if k.startswith("drop_") and v}
    passed = {k: v for k, v in c.items() if k.startswith("pass_") and v}
    arrival_drops = sum(v for k, v in drops.items()
                        if k not in ("drop_xmit", *QUEUE_DROPS, "drop_shutdown"))  # fmt: skip
    accounted = received + refused + arrival_drops + sum(passed.values()) + c["drop_xmit"]
    checks = {
        "sent == received + refused + arrival drops + passed + drop_xmit": sent == accounted,
        "transmitted == received + drop_xmit": c["transmitted"] == received + c["drop_xmit"],
        "stored == transmitted + dropped from the queues + drop_shutdown":
            sum(c[k] for k in STORED) == c["transmitted"] + sum(c[k] for k in QUEUE_DROPS)
            + c["drop_shutdown"],
    }  # fmt: skip
    no_leak = (slots_in_use == 0 and backlog == 0 and staged == 0
               and free == list(range(pool)))  # fmt: skip
    growth = round(100.0 * (rss_end - rss_start) / rss_start, 2)
    out = {
        "scheduler": args.sched, "bql": args.bql, "seconds": round(elapsed, 1),
        "packets": {"sent": sent, "received": received, "refused_by_s0": refused,
                    "enqueued": c["enqueued"], "transmitted": c["transmitted"],
                    "mpps": round(sum(phases.values()) / elapsed / 1e6, 3) if elapsed else 0.0},
        "sent_by_phase": phases, "drops": drops, "passed": passed,
        # xdpq_slots_in_use is counted after the free-list pop and lowered after the push,
        # so under contention it (and its peak) can read one above the pool size.
        "slot_pool": {"size": pool, "peak_in_use": slots_peak,
                      "low_water_free": max(0, pool - slots_peak),
                      "max_in_use_sampled": max_in_use, "in_use_after_stop": slots_in_use,
                      "free_list_complete": free == list(range(pool))},
        "max_backlog_sampled": max_backlog, "samples": samples,
        "deployer_rss_kib": {"start": rss_start, "end": rss_end, "growth_pct": growth},
        "memory_flat": growth <= MEMORY_GROWTH_MAX_PCT,
        "conservation": all(checks.values()), "checks": checks, "no_slot_leaked": no_leak,
    }  # fmt: skip
    for k, v in out.items():
        log(f"{k:>20}: {v}")
    print(json.dumps(out))
    return 0 if out["conservation"] and no_leak and out["memory_flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
