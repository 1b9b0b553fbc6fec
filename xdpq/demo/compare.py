"""Run the demo, and the comparison of the two executions.

Continuous (the default): flows offered above ``--rate`` for seconds, in the
kernel and in the simulator (``xdpq.demo.continuous``). Held: a standing
backlog queued while the scheduler is held, then released; the kernel first
(its drain rate sets the simulated link), then the simulator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xdpq.demo import continuous
from xdpq.demo.continuous import Offered
from xdpq.demo.kernel import run_kernel
from xdpq.demo.simulate import run_sim
from xdpq.demo.workload import (
    CONTINUOUS_FRAME,
    TOLERANCE_PP,
    FlowResult,
    Side,
    Workload,
    contended,
    side,
)
from xdpq.errors import XdpqError
from xdpq.library import compile_library
from xdpq.net.testbed import TestBed, reap_stale_beds


@dataclass
class Report:
    mode: str  # "continuous" or "held"
    scheduler: str
    what: str
    bed: str  # the test bed's name prefix (its namespaces are PREFIX-snd/-dut/-rcv)
    packets_per_flow: int
    frame_bytes: int
    classes: list[int]  # each flow's DSCP class (ip.dscp / 8), which the weights are per
    expected: list[float]  # shares the weights promise
    link_rate_bps: int  # continuous: --rate; held: the kernel's drain, the simulated link's
    tolerance_pp: float
    sim: Side
    kernel: Side
    diff_pp: list[float]  # kernel - sim share, per flow, percentage points
    agree: bool


def run_demo(w: Workload, say: Callable[[str], None], stack_load: bool = False) -> Report:
    compiled = compile_library(w.scheduler)
    k = run_kernel(w, compiled, say, stack_load)
    if not k.departures:
        raise XdpqError("the kernel delivered nothing; see `xdpq doctor`")
    drain_ns = max(d.sojourn_ns for d in k.departures) or 1
    rate = int(sum(d.size for d in k.departures) * 8 * 1e9 / drain_ns)
    say(
        f"kernel: {len(k.departures)} packets delivered in {drain_ns / 1e6:.2f} ms "
        f"({rate / 1e9:.2f} Gbit/s); simulating the same on a link of that rate"
    )
    sim_deps, sim_drops = run_sim(w, compiled, rate)
    window = min(contended(sim_deps, len(w.flows)), contended(k.departures, len(w.flows)))
    sim = side("sim", w, sim_deps, window, dict(sim_drops), [w.packets] * len(w.flows))
    kern = side("kernel", w, k.departures, window, k.drops, k.sent)
    kern.extra = {
        "send_ms": k.send_ns / 1e6,
        "timer_fires": k.timer_fires,
        "packets_per_timer_fire": len(k.departures) / max(k.timer_fires, 1),
        "transmitter_calls": k.tx_calls,
        "stack_datagrams_sent": k.stack_sent,
        "stack_frames_received": k.stack_received,
    }
    diff = [round((b.share - a.share) * 100, 2) for a, b in zip(sim.flows, kern.flows, strict=True)]
    return Report(
        "held",
        w.scheduler,
        w.what,
        k.bed,
        w.packets,
        w.size,
        [f.dscp // 8 for f in w.flows],
        [f.expected for f in w.flows],
        rate,
        TOLERANCE_PP,
        sim,
        kern,
        diff,
        all(abs(d) <= TOLERANCE_PP for d in diff),
    )


def run_continuous(w: Workload, say: Callable[[str], None], rate: int,
                   seconds: float) -> Report:
    """Every flow offered more than the share its weight promises (so that all stay
    backlogged), for ``seconds``, through ``--rate rate`` and through the simulator."""
    compiled = compile_library(w.scheduler)
    n = len(w.flows)
    load = 1.4 * max(f.expected for f in w.flows) * n  # each flow 1.4 times its share
    offered = Offered(tuple(f.dscp for f in w.flows), load, CONTINUOUS_FRAME)
    reap_stale_beds()
    with TestBed() as bed:
        say(f"test bed {bed.prefix}: sender → in0 [{w.scheduler}, --rate {rate / 1e6:g}Mbit] "
            f"out0 → receiver; {n} flows offered {load:.0%} of the rate for {seconds:g} s")
        k = continuous.kernel(bed, compiled, w.params, rate, offered, seconds)
    if not k.window:
        raise XdpqError("the kernel delivered nothing; see `xdpq doctor`")
    say(f"kernel: {k.rate_bps / 1e6:.2f} Mbit/s in the steady window; simulating the same")
    s = continuous.simulated(compiled, w.params, rate, offered, seconds)
    run_ns = int(seconds * 1e9)
    sides = [Side(name, [FlowResult(f.label, x.sent[i], x.delivered[i], x.shares[i],
                                    x.latency_p50_ns[i], x.latency_p99_ns[i])
                         for i, f in enumerate(w.flows)],
                  x.window, dict(sorted(x.drops.items())), sum(x.delivered), run_ns,
                  {"rate_bps": x.rate_bps})
             for name, x in (("sim", s), ("kernel", k))]
    diff = [round((b.share - a.share) * 100, 2)
            for a, b in zip(sides[0].flows, sides[1].flows, strict=True)]
    return Report("continuous", w.scheduler, w.what, bed.prefix, 0, CONTINUOUS_FRAME,
                  [f.dscp // 8 for f in w.flows], [f.expected for f in w.flows], rate,
                  TOLERANCE_PP, sides[0], sides[1], diff,
                  all(abs(d) <= TOLERANCE_PP for d in diff))
