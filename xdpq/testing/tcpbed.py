"""TCP flows through a scheduler, with the kernel's TCP on the veth bed and with the
simulator's model: the same experiment, measured the same way.

The experiment: N bulk TCP flows, each with its own base RTT, from the sender to
the receiver through a scheduler deployed with a link rate. On the bed, each
flow is an ``iperf3`` client with its congestion control chosen (``-C``: this
kernel's default is BBR) talking to its own server port; the base RTTs come
from the library's ``delay`` program deployed on the way back (the ACKs'
path: out0 to in0), which holds each packet for the delay of its source port
(the server's port, modulo 16). In the simulator, the same flows are
``xdpq.sim.tcp`` flows with those base RTTs, through the same program behind
the same shaper on an egress as fast as a veth.

Both sides are measured alike over the steady part of the run (after
``warmup`` of it): each flow's goodput as its receiver saw it; the queueing
delay, as the bytes the scheduler's queues hold every 20 ms at the link rate
(the deployment's queues read while it runs; in the simulator, from its
records of when each packet came and left); the queueing delay each sender
saw, as smoothed RTT samples less the flow's base RTT (``iperf3 -i 0.1``
reports the kernel's ``tcpi_rtt`` every 100 ms; the model's are sampled
every 10 ms), which on a loaded machine also holds the hosts' own delays;
and the scheduler's drops and ECN marks over the whole run. A flow's base
RTT is its delay plus the bed's own round trip (the datapath's transmitters
both ways, the hosts' stacks: about a millisecond), which ``ping`` measures
through the idle bed before the flows start; the simulator's flows get the
same base RTTs. They also start as far apart as the kernel's did: a packet
socket on the sender's veth takes the kernel's time stamp of each flow's
first data frame.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from xdpq.codegen.build import Compiled
from xdpq.codegen.python import scheduler_factory
from xdpq.errors import XdpqError
from xdpq.ir import Program
from xdpq.ir.link import Bql, BqlMode, Shaper
from xdpq.library import compile_library
from xdpq.net.testbed import DUT, SENDER, TestBed
from xdpq.runtime.deploy import Deployment
from xdpq.runtime.report import queue_occupancy, scheduler_reasons
from xdpq.sim.metrics import percentile
from xdpq.sim.run import Record, Simulation
from xdpq.sim.tcp import IPPROTO_TCP, NS, Cc, Ecn, TcpAgent, TcpSpec
from xdpq.testing.hosts import (
    IPERF_PORT,
    iperf_report,
    iperf_server,
    rtts,
    start_iperf,
    start_ping,
)

VETH_BPS = 10 * 10**9  # the simulated egress: as fast as a veth
DELAY_ENTRIES = 16  # the delay program's table: by source port modulo 16
INTERVAL_S = 0.1  # iperf3's reports
PINGS, PING_INTERVAL_S = 20, 0.02  # the bed's own round trip, before the flows
ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35  # asm-generic and x86: the kernel's receive time on each frame
FIRST_DATA_LEN = 1000  # an IP packet this long is a flow's data (iperf3's cookie is 37 bytes)
FIRST_DATA_WAIT_S = 10.0  # for every flow's first data segment, from the clients' launch
QUEUE_SAMPLE_NS = 20_000_000


@dataclass(frozen=True, slots=True)
class TcpFlows:
    """The experiment: flows with these base RTTs through a scheduler at ``rate``."""

    rtts_ns: tuple[int, ...]
    rate: int
    seconds: float
    cc: str = "cubic"
    ecn: bool = False  # classic ECN (RFC 3168) on every flow
    warmup: float = 0.25  # of the run, left out of the measures
    jitter_ns: int = 100_000  # the simulated senders' (xdpq.sim.tcp.TcpSpec.jitter_ns)
    seed: int = 0  # of the simulated senders' jitter
    # The round trip the bed adds to every flow's (its datapath's transmitters in both
    # directions, its hosts' stacks): the kernel's run measures it; the simulator adds
    # it to each flow's base RTT.
    host_ns: int = 0
    # When each flow sends its first data, after the first flow's (ns): the kernel's
    # run measures it (its clients start one after another); the simulator's flows
    # start so. Empty: all at once.
    starts_ns: tuple[int, ...] = ()
    # The receivers' initial window_clamp (xdpq.sim.tcp.TcpSpec.rwnd_init): tcp_rmem[1]
    # (131072) times the scaling ratio of a veth's frames (90/256: the truesize of an
    # XDP-redirected 1514-byte frame), as tcp:tcp_rcvbuf_grow shows on the bed.
    rwnd_init: int = 46080

    def base_ns(self, flow: int) -> int:
        """A flow's base round trip: its delay and the bed's own."""
        return self.rtts_ns[flow] + self.host_ns

    @property
    def steady_from(self) -> int:
        """Where the measures start (ns): after the warm-up, on a whole second, where
        one of the receiver's reports starts."""
        return math.ceil(self.warmup * self.seconds) * NS

    def __post_init__(self) -> None:
        if not 1 <= len(self.rtts_ns) < DELAY_ENTRIES:
            raise ValueError(f"1 to {DELAY_ENTRIES - 1} flows: the delay program keys on the "
                             "server port modulo 16, and ping takes the entry of none")


@dataclass(frozen=True, slots=True)
class TcpOutcome:
    """What one side measured."""

    goodput_bps: tuple[float, ...]  # per flow, over the steady window
    # The scheduler's queues every QUEUE_SAMPLE_NS: the bytes they held, at the rate.
    queue_delay_ns: tuple[int, ...]
    srtt_delay_ns: tuple[tuple[int, ...], ...]  # per flow: smoothed RTT less the base
    retransmits: tuple[int, ...]  # per flow, over the run
    host_ns: int  # the bed's own round trip (ping's median, idle); 0 in the simulator
    starts_ns: tuple[int, ...]  # each flow's first data segment, after the first's
    drops: dict[str, int]  # the datapath's drop_* counters and the program's reasons
    marks: int  # packets marked CE

    @property
    def shares(self) -> tuple[float, ...]:
        total = sum(self.goodput_bps)
        return tuple(g / total if total else 0.0 for g in self.goodput_bps)

    def delay_percentile(self, q: float) -> int:
        """The queueing delay's percentile, as the scheduler's queues held it."""
        return percentile(sorted(self.queue_delay_ns), q)

    def srtt_percentile(self, q: float) -> int:
        """The queueing delay's percentile as the senders saw it, over every flow's
        samples: in the kernel, also whatever a loaded machine adds to a round trip."""
        return percentile(sorted(d for flow in self.srtt_delay_ns for d in flow), q)

    def ranked_shares(self, exp: TcpFlows) -> tuple[float, ...]:
        """The shares with the flows of one base RTT in order of their shares: flows
        alike cannot be told apart, and which of them a FIFO favours is chance."""
        shares = self.shares
        ranked = list(shares)
        for rtt in set(exp.rtts_ns):
            flows = [i for i, r in enumerate(exp.rtts_ns) if r == rtt]
            for i, share in zip(flows, sorted(shares[i] for i in flows), strict=True):
                ranked[i] = share
        return tuple(ranked)


def _delay_table(exp: TcpFlows) -> list[int]:
    """The delay of each flow's server port; the others' (ping's, entry 0) none."""
    table = [0] * DELAY_ENTRIES
    for i, rtt in enumerate(exp.rtts_ns):
        table[(IPERF_PORT + i) % DELAY_ENTRIES] = rtt
    return table


def _window_bytes(intervals: list[dict[str, Any]], start: float) -> tuple[float, float]:
    """Bytes in the intervals from ``start`` on, and how long those were (s)."""
    sel = [iv["sum"] for iv in intervals if iv["sum"]["start"] >= start - 1e-6]
    return sum(s["bytes"] for s in sel), sum(s["end"] - s["start"] for s in sel)


class _FirstData:
    """When each flow's first data segment leaves the sender, as the kernel stamped the
    frame on the sender's veth. The clients are launched one after another, and on a
    loaded machine they begin tens of milliseconds apart: which flow began first
    decides the windows slow start ends at, which a FIFO then keeps unequal."""

    def __init__(self, bed: TestBed, ports: list[int]) -> None:
        self.ports = ports
        self.first: dict[int, int] = {}
        with bed.enter(SENDER):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind(("s0", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.2)
        self.deadline = time.monotonic() + FIRST_DATA_WAIT_S
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        try:
            while len(self.first) < len(self.ports) and time.monotonic() < self.deadline:
                try:
                    frame, anc, _, _ = self.sock.recvmsg(128, socket.CMSG_SPACE(16))
                except TimeoutError:
                    continue
                if len(frame) < 38 or frame[12:14] != b"\x08\x00" or frame[23] != IPPROTO_TCP:
                    continue
                ihl = (frame[14] & 0xF) * 4
                (length,) = struct.unpack_from("!H", frame, 16)
                (dport,) = struct.unpack_from("!H", frame, 14 + ihl + 2)
                if length < FIRST_DATA_LEN or dport not in self.ports or dport in self.first:
                    continue
                stamp = next((struct.unpack("qq", data[:16]) for level, kind, data in anc
                              if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
                self.first[dport] = stamp[0] * NS + stamp[1] if stamp else time.time_ns()
        finally:
            self.sock.close()

    def starts(self) -> tuple[int, ...]:
        """Each flow's first data, after the earliest flow's (ns)."""
        self.thread.join(max(0.0, self.deadline - time.monotonic()) + 1)
        if missing := [p for p in self.ports if p not in self.first]:
            raise XdpqError(f"no data seen from the flows to ports {missing}")
        t0 = min(self.first.values())
        return tuple(self.first[p] - t0 for p in self.ports)


class _QueueWatch:
    """The bytes a deployment's queues hold, every QUEUE_SAMPLE_NS from now on: the
    scheduler's own queueing delay, which a loaded machine's slower hosts do not add
    to as they add to the round trips the senders see."""

    def __init__(self, dep: Deployment, program: Program) -> None:
        self.dep, self.program = dep, program
        self.samples: list[tuple[int, int]] = []  # (ns from now, bytes)
        self.t0 = time.monotonic_ns()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.wait(QUEUE_SAMPLE_NS / NS):
            held = queue_occupancy(self.dep.obj, self.program)
            self.samples.append((time.monotonic_ns() - self.t0,
                                 sum(q["bytes"] for q in held.values())))

    def stop(self) -> list[tuple[int, int]]:
        self.done.set()
        self.thread.join()
        return self.samples


def _delays(samples: list[tuple[int, int]], start_ns: int, rate: int) -> tuple[int, ...]:
    """Bytes queued as the time they take at ``rate``, from ``start_ns`` on."""
    return tuple(b * 8 * NS // rate for t, b in samples if t >= start_ns)


def kernel(bed: TestBed, compiled: Compiled, params: dict[str, object],
           exp: TcpFlows) -> TcpOutcome:
    """The flows with the kernel's TCP, through ``compiled`` deployed with ``--rate``."""
    delay = compile_library("delay")
    ports = [IPERF_PORT + i for i in range(len(exp.rtts_ns))]
    with bed.enter(SENDER):  # per namespace: ask for ECN, or do not
        Path("/proc/sys/net/ipv4/tcp_ecn").write_text("1" if exp.ecn else "2")
    with bed.enter(DUT):
        fwd = Deployment(compiled.obj_path, "in0", "out0", program=compiled.program,
                         params=params, shaper=Shaper(exp.rate))  # type: ignore[arg-type]
        try:
            rev = Deployment(delay.obj_path, "out0", "in0", program=delay.program,
                             params={"delay": _delay_table(exp)})
        except BaseException:
            fwd.close()
            raise
    try:
        pinger = start_ping(bed, PINGS, PING_INTERVAL_S)
        times, _ = rtts(pinger, timeout=PINGS * PING_INTERVAL_S + 30)
        if not times:
            raise XdpqError("ping found no way through the bed")
        host = int(sorted(times)[len(times) // 2] * 1e6)
        base = [rtt + host for rtt in exp.rtts_ns]
        with ExitStack() as servers:
            for port in ports:
                servers.enter_context(iperf_server(bed, port))
            first = _FirstData(bed, ports)
            watch = _QueueWatch(fwd, compiled.program)  # type: ignore[arg-type]
            clients = [start_iperf(bed, exp.seconds, 1, exp.cc, port, INTERVAL_S)
                       for port in ports]
            starts = first.starts()
            reports = [iperf_report(c, exp.seconds) for c in clients]
            queued = watch.stop()
            time.sleep(0.1)
        counters = fwd.stats().counters
        drops = {k: c.packets for k, c in counters.items() if k.startswith("drop_") and c.packets}
        drops.update({k: v["packets"] for k, v in scheduler_reasons(fwd.obj).items()
                      if v["packets"]})
        marks = counters["mark_ce"].packets
    finally:
        rev.close()
        fwd.close()
    start = exp.steady_from / NS
    goodput, delays, retx = [], [], []
    for r, flow_base in zip(reports, base, strict=True):
        nbytes, span = _window_bytes(r["server_output_json"]["intervals"], start)
        goodput.append(nbytes * 8 / span if span else 0.0)
        delays.append(tuple(max(0, iv["streams"][0]["rtt"] * 1000 - flow_base)
                            for iv in r["intervals"] if iv["sum"]["start"] >= start - 1e-6))
        retx.append(int(r["end"]["streams"][0]["sender"].get("retransmits", 0)))
    return TcpOutcome(tuple(goodput), _delays(queued, exp.steady_from, exp.rate), tuple(delays),
                      tuple(retx), host, starts, drops, marks)


def simulated(compiled: Compiled, params: dict[str, object], exp: TcpFlows) -> TcpOutcome:
    """The same flows in the simulator: ``xdpq.sim.tcp`` flows through the program
    behind the same shaper, on an egress as fast as a veth."""
    until = int(exp.seconds * NS)
    start = exp.steady_from
    ecn = Ecn.CLASSIC if exp.ecn else Ecn.OFF
    starts = exp.starts_ns or (0,) * len(exp.rtts_ns)
    specs = [TcpSpec(i, cc=Cc(exp.cc), rtt_ns=rtt + exp.host_ns, ecn=ecn, start_ns=at,
                     jitter_ns=exp.jitter_ns, seed=exp.seed * 1000 + i,
                     rwnd_init=exp.rwnd_init)
             for i, (rtt, at) in enumerate(zip(exp.rtts_ns, starts, strict=True))]
    agent = TcpAgent(specs)
    sched = scheduler_factory(compiled.program)(params)  # type: ignore[arg-type]
    res = Simulation(sched, VETH_BPS, bql=Bql(BqlMode.OFF), shaper=Shaper(exp.rate)).run(
        [], until=until, closed=agent)
    goodput, delays = [], []
    stats = agent.stats(until)
    for i, s in enumerate(stats):
        acked = [(t, b) for t, _, _, b in s.samples if t >= start]
        goodput.append((acked[-1][1] - acked[0][1]) * 8 * NS / (acked[-1][0] - acked[0][0])
                       if len(acked) > 1 else 0.0)
        delays.append(tuple(max(0, srtt - exp.base_ns(i)) for t, _, srtt, _ in s.samples
                            if t >= start))
    drops = {k: v for k, v in res.counters.items() if k.startswith("drop_") and v}
    drops.update({k: n for k, (n, _) in sched.reasons.items() if n})
    queued = _held(res.records, range(start, until, QUEUE_SAMPLE_NS), until)
    return TcpOutcome(tuple(goodput), _delays(queued, start, exp.rate), tuple(delays),
                      tuple(s.retransmits for s in stats), 0, starts, drops,
                      res.counters["mark_ce"])


def _held(records: list[Record], times: range, until: int) -> list[tuple[int, int]]:
    """The bytes queued at each of ``times``: a packet from its arrival until it left
    (or the end; a packet dropped on arrival never, and one an AQM dropped is not
    counted, as when it left is not recorded)."""
    steps = []
    for r in records:
        if r.outcome == "delivered" or r.outcome == "unfinished":
            steps += [(r.arrived, r.size), (r.departed if r.departed >= 0 else until, -r.size)]
    steps.sort()
    out, held, i = [], 0, 0
    for t in times:
        while i < len(steps) and steps[i][0] <= t:
            held += steps[i][1]
            i += 1
        out.append((t, held))
    return out


def seeded_shares(compiled: Compiled, params: dict[str, object], exp: TcpFlows,
                  seeds: int) -> list[tuple[float, ...]]:
    """The simulator's ranked shares (:meth:`TcpOutcome.ranked_shares`) of ``seeds``
    runs that differ in the senders' jitter only."""
    return [simulated(compiled, params, replace(exp, seed=seed)).ranked_shares(exp)
            for seed in range(seeds)]


def mean_shares(runs: list[tuple[float, ...]]) -> tuple[float, ...]:
    """Each flow's share, the mean over runs."""
    return tuple(sum(col) / len(runs) for col in zip(*runs, strict=True))


def within_spread(shares: tuple[float, ...], runs: list[tuple[float, ...]], pp: float
                  ) -> bool:
    """Whether each of ``shares`` lies within the runs' range for it, widened by ``pp``:
    under a FIFO which flow is favoured, and how much, is chance in the model as in the
    kernel, so one kernel run is held to the model's runs, not to their mean."""
    return all(min(col) - pp <= x <= max(col) + pp
               for x, col in zip(shares, zip(*runs, strict=True), strict=True))
