"""Run the demo: the kernel first (its drain rate sets the simulated link), then the
simulator, and the comparison."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xdpq.demo.kernel import run_kernel
from xdpq.demo.simulate import run_sim
from xdpq.demo.workload import TOLERANCE_PP, Side, Workload, contended, side
from xdpq.errors import XdpqError
from xdpq.library import compile_library


@dataclass
class Report:
    scheduler: str
    what: str
    bed: str  # the test bed's name prefix (its namespaces are PREFIX-snd/-dut/-rcv)
    packets_per_flow: int
    frame_bytes: int
    classes: list[int]  # each flow's DSCP class (ip.dscp / 8), which the weights are per
    expected: list[float]  # shares the weights promise
    link_rate_bps: int  # the kernel's drain, and the simulated link's rate
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
