"""The workload on a veth test bed, through the deployed scheduler.

A chunk of the backlog is sent at a time, each between two clock readings:
the receiver measures one-way latency from the send, and a packet's send
time, placed by its position inside its chunk, turns that into the time
from the release (to within a chunk's duration, about 0.1 ms).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from xdpq.codegen.build import Compiled
from xdpq.demo.stackload import StackLoad
from xdpq.demo.workload import Departure, Workload
from xdpq.errors import XdpqError
from xdpq.ir.link import Bql
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import DUT, TestBed, reap_stale_beds
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.runtime.deploy import Deployment

CHUNK_ROUNDS = 64  # rounds of the round robin per send call
SETTLE_S = 5.0


@dataclass
class KernelRun:
    departures: list[Departure]
    drops: dict[str, int]  # drop and pass reasons of the scheduler, and the sender's refusals
    sent: list[int]
    send_ns: int  # how long queueing the backlog took
    bed: str  # the test bed's name prefix
    stack_sent: int  # datagrams the DUT's stack sent out of the egress meanwhile (--stack-load)
    stack_received: int  # of those, what reached the receiver
    timer_fires: int  # scheduler timer callbacks
    tx_calls: int  # the transmitter's BPF_PROG_RUN calls


def run_kernel(
    w: Workload, compiled: Compiled, say: Callable[[str], None], stack_load: bool = False
) -> KernelRun:
    reap_stale_beds()
    n = len(w.flows)
    flows = [Flow(size=w.size, dscp=f.dscp, sport=20000 + i) for i, f in enumerate(w.flows)]
    with ExitStack() as stack:
        bed = stack.enter_context(TestBed())
        say(f"test bed {bed.prefix}: sender → in0 [{w.scheduler}] out0 → receiver")
        rcv = stack.enter_context(Receiver(bed))
        gen = stack.enter_context(TrafficGen(bed, flows))
        with bed.enter(DUT):
            dep = stack.enter_context(
                Deployment(
                    compiled.obj_path,
                    "in0",
                    "out0",
                    bql=Bql.hold(),
                    params=w.params,
                    program=compiled.program,
                )
            )
        load = stack.enter_context(StackLoad(bed)) if stack_load else None
        pool = dep.obj.map("xdpq_slots").max_entries
        total = w.packets * n
        if total > pool:
            raise XdpqError(
                f"{w.packets} packets per flow: the {n} flows' backlog "
                f"({total}) must fit the slot pool ({pool})"
            )
        chunks: list[tuple[int, int, int, int]] = []  # first index, count, t0, t1
        done = 0
        start = time.monotonic_ns()
        while done < total:
            count = min(CHUNK_ROUNDS * n, total - done)
            t0 = time.monotonic_ns()
            got = gen.send(count)
            chunks.append((done, got, t0, time.monotonic_ns()))
            done += got
        send_ns = time.monotonic_ns() - start
        deadline = time.monotonic() + SETTLE_S
        while dep.stats().backlog + _lost(dep, gen) < total and time.monotonic() < deadline:
            time.sleep(0.001)
        queued = dep.stats().backlog
        say(f"kernel: {queued} packets queued in {send_ns / 1e6:.1f} ms, held; releasing")
        released = time.monotonic_ns()
        dep.set_bql(Bql())
        rcv.wait(queued, timeout_s=SETTLE_S)
        arrivals = rcv.arrivals()
        sent = list(gen.sent())
        refused = gen.refused
        if load is not None:
            load.stop()
        stack_received = rcv.other  # frames that were not probes: the stack's
        tx_calls = dep.stats().tx_calls  # (gone once closed)
    final = dep.final
    assert final is not None  # closed by the ExitStack
    drops = {
        k: c.packets
        for k, c in final.counters.items()
        if k.startswith(("drop_", "pass_")) and c.packets
    }
    if refused:
        drops["sender_refused"] = refused
    departures = [
        Departure(
            a.flow, a.len, max(0, a.latency_ns + _sent_at(chunks, a.seq * n + a.flow) - released)
        )
        for a in arrivals
    ]
    return KernelRun(
        departures,
        drops,
        sent,
        send_ns,
        bed.prefix,
        load.sent if load is not None else 0,
        stack_received,
        final.timer_fires,
        tx_calls,
    )


def _lost(dep: Deployment, gen: TrafficGen) -> int:
    c = dep.stats().counters
    return gen.refused + sum(v.packets for k, v in c.items() if k.startswith(("drop_", "pass_")))


def _sent_at(chunks: list[tuple[int, int, int, int]], index: int) -> int:
    """The estimated send time of the packet sent ``index``-th: placed linearly inside
    its chunk's clock readings."""
    for first, count, t0, t1 in chunks:
        if first <= index < first + count:
            return t0 + (t1 - t0) * (2 * (index - first) + 1) // (2 * count)
    raise XdpqError(f"the receiver saw packet {index}, which was never sent")
