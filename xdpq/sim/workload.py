"""Workloads: seeded, reproducible streams of arrivals.

Every generator yields :class:`~xdpq.sim.run.Arrival` objects in time order
and draws its randomness from ``random.Random(seed)`` alone, so a workload is
a pure function of its arguments. Generators that could run forever take
``until_ns`` (arrivals at or after it are not generated); ``merge`` combines
several into one time-ordered stream.

Packets are :class:`FlowPacket`: the fields ``xdpq.packet.parse`` would give
for the frame (so a compiled scheduler can classify on any of them), the
workload's flow number (what metrics group by) and the flow's total size in
bytes when the flow is finite (what flow completion times are measured
against). A flow's headers come from its *connection* number: UDP from
10.(c >> 16).(c >> 8).c to 10.255.0.2 port 9, source port 1024 + c. Flows
drawn from a size distribution are IPv6 and carry their remaining size in
KiB in the flow label, which is how ``schedulers/srpt.xdpq`` reads it.
"""

from __future__ import annotations

import bisect
import heapq
import ipaddress
import math
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from xdpq import capture
from xdpq.errors import XdpqError
from xdpq.packet import PktFlags, flow_hash, parse
from xdpq.sim.run import Arrival, FlowPacket

NS = 1_000_000_000
MTU_FRAME = 1514  # an Ethernet frame carrying a 1500-byte IP packet
MIN_FRAME = 64
IPPROTO_UDP = 17
FLOW_LABEL_MAX = (1 << 20) - 1
_V4_MAPPED = bytes(10) + b"\xff\xff"


def _address(conn: int, ip: int) -> tuple[bytes, bytes]:
    a, b, c = (conn >> 16) & 0xFF, (conn >> 8) & 0xFF, conn & 0xFF
    if ip == 6:
        src = ipaddress.IPv6Address(f"fd00::{a:x}:{b:x}:{c:x}").packed
        return src, ipaddress.IPv6Address("fd00::ff:0:2").packed
    return (_V4_MAPPED + bytes((10, a, b, c)), _V4_MAPPED + bytes((10, 255, 0, 2)))


_HEADERS: dict[tuple[int, int, int, int], dict[str, object]] = {}


def _headers(conn: int, ip: int, proto: int, dport: int) -> dict[str, object]:
    key = (conn, ip, proto, dport)
    h = _HEADERS.get(key)
    if h is None:
        saddr, daddr = _address(conn, ip)
        sport = 1024 + conn % 64512
        h = dict(saddr=saddr, daddr=daddr, sport=sport, dport=dport, ip_ver=ip,
                 flow_hash=flow_hash(saddr, daddr, sport, dport, proto),
                 eth_proto=0x86DD if ip == 6 else 0x0800, l3_off=14, l4_off=54 if ip == 6 else 34,
                 l4_proto=proto, ttl=64, flags=PktFlags.PORTS)
        if len(_HEADERS) < 1 << 16:
            _HEADERS[key] = h
    return h


_PACKETS: dict[tuple[int, ...], FlowPacket] = {}


def flow_packet(flow: int, size: int, dscp: int = 0, *, conn: int | None = None,
                flow_size: int = 0, ip: int = 4, flow_label: int = 0, proto: int = IPPROTO_UDP,
                dport: int = 9, ecn: int = 0) -> FlowPacket:
    """A packet of workload flow ``flow``; its headers follow from ``conn`` (default: the
    flow number), so that several flows can share one connection's 5-tuple. UDP to
    port 9 unless ``proto`` and ``dport`` say otherwise; ``ecn``: its ECN field. Packets
    are immutable, and a flow's packets alike are one object (remembered), which also
    lets the fast simulator read each one's fields once."""
    key = (flow, size, dscp, flow if conn is None else conn, flow_size, ip, flow_label,
           proto, dport, ecn)
    pkt = _PACKETS.get(key)
    if pkt is None:
        h = _headers(key[3], ip, proto, dport)
        pkt = FlowPacket(len=size, flow=flow, dscp=dscp, ecn=ecn, flow_size=flow_size,
                         ip_len=size - 14, flow_label=flow_label if ip == 6 else 0,
                         **h)  # type: ignore[arg-type]
        if len(_PACKETS) >= 1 << 14:
            _PACKETS.clear()
        _PACKETS[key] = pkt
    return pkt


def _packets(total: int, mtu: int) -> list[int]:
    """A flow of ``total`` bytes as frames of at most ``mtu`` (none below 64 B)."""
    full, rest = divmod(total, mtu)
    sizes = [mtu] * full
    if rest:
        sizes.append(max(rest, MIN_FRAME))
    return sizes or [MIN_FRAME]


def serialization_ns(size: int, rate_bps: float) -> int:
    return math.ceil(size * 8 * NS / rate_bps)


# --- the simple ones ---------------------------------------------------------------------------


def poisson(rate_pps: float, mean_size: float, count: int | None, seed: int, flow: int = 0,
            dscp: int = 0, exponential_sizes: bool = True, *, until_ns: int | None = None,
            start_ns: int = 0, ip: int = 4) -> Iterator[Arrival]:
    """Poisson arrivals; sizes exponential (at least 1 byte) or all ``mean_size``."""
    rng = random.Random(seed)
    t = float(start_ns)
    n = 0
    while count is None or n < count:
        t += rng.expovariate(rate_pps) * NS
        if until_ns is not None and t >= until_ns:
            return
        size = int(mean_size)
        if exponential_sizes:
            size = max(1, round(rng.expovariate(1 / mean_size)))
        yield Arrival(int(t), flow_packet(flow, size, dscp, ip=ip))
        n += 1


def constant(rate_pps: float, size: int, count: int | None, flow: int = 0, dscp: int = 0,
             start_ns: int = 0, *, until_ns: int | None = None, ip: int = 4) -> Iterator[Arrival]:
    """Evenly spaced arrivals of equal size."""
    gap = NS / rate_pps
    i = 0
    while count is None or i < count:
        t = start_ns + int(i * gap)
        if until_ns is not None and t >= until_ns:
            return
        yield Arrival(t, flow_packet(flow, size, dscp, ip=ip))
        i += 1


def merge(*streams: Iterable[Arrival]) -> Iterator[Arrival]:
    """Time-ordered streams as one; ties keep the order of the streams."""
    return heapq.merge(*streams, key=lambda a: a.time)


# --- on/off ------------------------------------------------------------------------------------


def on_off(flows: int, rate_pps: float, size: int, on_ns: int, off_ns: int, seed: int, *,
           exponential: bool = True, first_flow: int = 0, dscp: int = 0, start_ns: int = 0,
           until_ns: int | None = None, ip: int = 4) -> Iterator[Arrival]:
    """``flows`` sources, each alternating between on periods, in which it sends
    ``size``-byte packets at ``rate_pps``, and silent off periods. Periods are
    exponential with means ``on_ns`` / ``off_ns`` (each source starts at a random
    point of an off period), or exactly those lengths, every source starting on at
    ``start_ns``."""
    if flows < 1 or rate_pps <= 0 or on_ns <= 0 or off_ns < 0:
        raise ValueError("on_off needs flows >= 1, rate_pps > 0, on_ns > 0 and off_ns >= 0")
    rng = random.Random(seed)
    gap = NS / rate_pps

    def period(mean: int) -> float:
        return rng.expovariate(1 / mean) if exponential and mean else float(mean)

    def source(flow: int, first_on: float) -> Iterator[Arrival]:
        # The sending clock runs only while on: the gap left at the end of an on
        # period carries over into the next, so the rate over time is exact.
        on_start, wait = first_on, 0.0
        while True:
            on_end = on_start + period(on_ns)
            t = on_start + wait
            while t < on_end:
                if until_ns is not None and t >= until_ns:
                    return
                yield Arrival(int(t), flow_packet(flow, size, dscp, ip=ip))
                t += gap
            wait = t - on_end
            on_start = on_end + period(off_ns)
            if until_ns is not None and on_start >= until_ns:
                return

    # Draw every source's start first, so that their periods do not depend on how
    # the merge interleaves them.
    starts = [start_ns + (rng.uniform(0, off_ns) if exponential else 0.0) for _ in range(flows)]
    sources = [source(first_flow + i, s) for i, s in enumerate(starts)]
    # Each source has its own generator state, but they share rng: drawing lazily in merge
    # order is deterministic too, as the merge order is a function of the times drawn.
    return merge(*sources)


# --- incast ------------------------------------------------------------------------------------


def incast(senders: int, burst_bytes: int, period_ns: int, seed: int, *,
           access_rate_bps: float, mtu: int = MTU_FRAME, first_flow: int = 0, dscp: int = 0,
           start_ns: int = 0, jitter_ns: int = 0, until_ns: int | None = None,
           bursts: int | None = None, ip: int = 4) -> Iterator[Arrival]:
    """``senders`` sources that all answer at once: every ``period_ns`` each sends a
    burst of ``burst_bytes``, as frames of at most ``mtu`` back to back at
    ``access_rate_bps``. Bursts start together (each sender's start may lag by a
    uniform random ``jitter_ns`` at most). Each burst is its own flow, numbered
    ``first_flow + k * senders + i`` for burst k of sender i and tagged with
    ``burst_bytes``, so flow completion times are burst completion times; a
    sender's packets keep its connection's headers across bursts."""
    if senders < 1 or burst_bytes < 1 or period_ns <= 0:
        raise ValueError("incast needs senders >= 1, burst_bytes >= 1 and period_ns > 0")
    rng = random.Random(seed)
    sizes = _packets(burst_bytes, mtu)
    k = 0
    while bursts is None or k < bursts:
        base = start_ns + k * period_ns
        if until_ns is not None and base >= until_ns:
            return
        events: list[tuple[int, int, int, int]] = []  # time, sender, index, size
        for i in range(senders):
            t = base + (rng.randrange(jitter_ns) if jitter_ns > 0 else 0)
            for j, size in enumerate(sizes):
                events.append((t, i, j, size))
                t += serialization_ns(size, access_rate_bps)
        events.sort()
        for t, i, _, size in events:
            if until_ns is not None and t >= until_ns:
                continue
            yield Arrival(t, flow_packet(first_flow + k * senders + i, size, dscp,
                                         conn=first_flow + i, flow_size=burst_bytes, ip=ip))
        k += 1


# --- flow-size distributions -------------------------------------------------------------------


@dataclass(frozen=True)
class SizeCdf:
    """An empirical flow-size CDF: ascending sizes in bytes and their cumulative
    probabilities, the last 1. Sampled by linear interpolation between points, as
    the ns-2 ``EmpiricalRandomVariable`` the pFabric simulations used."""

    name: str
    sizes: tuple[float, ...]
    probs: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or len(self.sizes) != len(self.probs):
            raise ValueError(f"{self.name}: a CDF needs at least two (size, probability) points")
        if any(b < a for a, b in zip(self.sizes, self.sizes[1:], strict=False)) or \
                any(b < a for a, b in zip(self.probs, self.probs[1:], strict=False)):
            raise ValueError(f"{self.name}: sizes and probabilities must not decrease")
        if self.probs[0] < 0 or abs(self.probs[-1] - 1) > 1e-9 or self.sizes[0] <= 0:
            raise ValueError(f"{self.name}: probabilities must run up to 1, sizes be positive")

    def sample(self, rng: random.Random) -> int:
        u = rng.random()
        i = bisect.bisect_left(self.probs, u)
        if i == 0:
            return max(1, round(self.sizes[0]))
        p0, p1 = self.probs[i - 1], self.probs[i]
        x0, x1 = self.sizes[i - 1], self.sizes[i]
        x = x1 if p1 == p0 else x0 + (x1 - x0) * (u - p0) / (p1 - p0)
        return max(1, round(x))

    def mean(self) -> float:
        """The mean of the interpolated distribution."""
        total = self.sizes[0] * self.probs[0]
        for i in range(1, len(self.sizes)):
            total += (self.probs[i] - self.probs[i - 1]) * (self.sizes[i - 1] + self.sizes[i]) / 2
        return total


BUILTIN_CDFS = {"websearch": "websearch.cdf", "datamining": "datamining.cdf"}


def load_cdf(name_or_path: str | os.PathLike[str]) -> SizeCdf:
    """A built-in CDF (``websearch``, ``datamining``) or a file of ``size_bytes
    probability`` lines (``#`` starts a comment)."""
    name = os.fspath(name_or_path)
    if name in BUILTIN_CDFS:
        text = resources.files("xdpq.sim").joinpath("data", BUILTIN_CDFS[name]).read_text()
    else:
        try:
            text = Path(name).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise XdpqError(f"cannot read the flow-size CDF {name}: {exc}") from None
    sizes, probs = [], []
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            size, prob = (float(w) for w in words)
        except ValueError:
            raise XdpqError(f"{name}:{n}: expected 'size_bytes probability', got {line!r}") \
                from None
        sizes.append(size)
        probs.append(prob)
    try:
        return SizeCdf(name, tuple(sizes), tuple(probs))
    except ValueError as exc:
        raise XdpqError(str(exc)) from None


def flow_sizes(cdf: SizeCdf, load: float, link_rate_bps: float, seed: int, *,
               access_rate_bps: float | None = None, mtu: int = MTU_FRAME, first_flow: int = 0,
               dscp: int = 0, start_ns: int = 0, until_ns: int | None = None,
               flows: int | None = None, ip: int = 6) -> Iterator[Arrival]:
    """Flows with sizes drawn from ``cdf`` arriving as a Poisson process whose mean
    offered load is ``load`` times ``link_rate_bps``. A flow is sent as frames of
    at most ``mtu`` bytes back to back at ``access_rate_bps`` (default: the link
    rate), each tagged with the flow's number and total size, and (IPv6) with the
    bytes still to send including its own, in KiB, in the flow label. New flows
    start until ``until_ns`` (or ``flows`` of them); a flow started is sent whole
    unless ``until_ns`` cuts it."""
    if load <= 0:
        raise ValueError("flow_sizes needs a load above 0")
    rng = random.Random(seed)
    access = access_rate_bps or link_rate_bps
    flow_rate = load * link_rate_bps / (8 * cdf.mean())  # flows per second
    heap: list[tuple[int, int, int, int, int]] = []  # time, flow, next index, total, sent
    next_start = start_ns + rng.expovariate(flow_rate) * NS
    started = 0
    sizes_of: dict[int, list[int]] = {}

    def more_flows() -> bool:
        return (flows is None or started < flows) and (until_ns is None or next_start < until_ns)

    while heap or more_flows():
        if more_flows() and (not heap or next_start < heap[0][0]):
            flow = first_flow + started
            sizes_of[flow] = _packets(cdf.sample(rng), mtu)
            total = sum(sizes_of[flow])  # the last frame may have been padded to 64 B
            heapq.heappush(heap, (int(next_start), flow, 0, total, 0))
            started += 1
            next_start += rng.expovariate(flow_rate) * NS
            continue
        t, flow, j, total, sent = heapq.heappop(heap)
        if until_ns is not None and t >= until_ns:
            sizes_of.pop(flow)
            continue
        sizes = sizes_of[flow]
        size = sizes[j]
        label = min(FLOW_LABEL_MAX, -(-(total - sent) // 1024))
        yield Arrival(t, flow_packet(flow, size, dscp, flow_size=total, ip=ip, flow_label=label))
        if j + 1 < len(sizes):
            heapq.heappush(heap, (t + serialization_ns(size, access), flow, j + 1, total,
                                  sent + size))
        else:
            del sizes_of[flow]


# --- pcap replay -------------------------------------------------------------------------------


def pcap(path: str | os.PathLike[str], *, start_ns: int = 0, first_flow: int = 0,
         speed: float = 1.0, until_ns: int | None = None) -> Iterator[Arrival]:
    """The frames of a pcap or pcapng file (as :func:`xdpq.capture.frames` reads them:
    Ethernet, raw IP, Linux cooked, BSD loopback; an FCS cut off), at their capture
    times relative to the first one (divided by ``speed``) from ``start_ns``. Each
    frame is parsed as the datapath would parse it; its length is the length on the
    wire; frames of one 5-tuple (in order of first appearance) are one flow. Times
    that go backwards are kept in order (moved up)."""
    if speed <= 0:
        raise ValueError("pcap replay needs a speed above 0")
    flows: dict[tuple[bytes, bytes, int, int, int], int] = {}
    first: int | None = None
    last = start_ns
    for frame in capture.frames(path):
        if first is None:
            first = frame.time_ns
        t = max(last, start_ns + round((frame.time_ns - first) / speed))
        if until_ns is not None and t >= until_ns:
            return
        last = t
        p = parse(frame.data)
        key = (p.saddr, p.daddr, p.sport, p.dport, p.l4_proto)
        flow = flows.setdefault(key, first_flow + len(flows))
        yield Arrival(t, FlowPacket.of(p, flow, max(frame.wire_len, len(frame.data))))
