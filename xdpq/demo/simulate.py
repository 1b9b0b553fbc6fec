"""The workload through the simulator: the same packets, queued at time 0, on a link
as fast as the kernel's drain was."""

from __future__ import annotations

from collections import Counter

from xdpq.codegen.build import Compiled
from xdpq.codegen.python import scheduler_factory
from xdpq.demo.workload import Departure, Workload
from xdpq.sim.run import DROPPED, Arrival, Simulation
from xdpq.sim.workload import flow_packet


def run_sim(w: Workload, compiled: Compiled, rate_bps: int) -> tuple[list[Departure], Counter[str]]:
    sched = scheduler_factory(compiled.program)(w.params)
    arrivals = [Arrival(0, flow_packet(f, w.size, w.flows[f].dscp, conn=f)) for f in w.order()]
    result = Simulation(sched, rate_bps).run(arrivals)
    done = sorted((r for r in result.records if r.departed != DROPPED), key=lambda r: r.departed)
    drops = Counter(r.outcome for r in result.records if r.departed == DROPPED)
    return [Departure(r.flow, r.size, r.departed - r.arrived) for r in done], drops
