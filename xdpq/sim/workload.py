"""Workloads: seeded, reproducible streams of arrivals."""

from __future__ import annotations

import random
from collections.abc import Iterator

from xdpq.sim.run import Arrival, SimPacket

NS = 1_000_000_000


def flow_packet(flow: int, size: int, dscp: int = 0) -> SimPacket:
    """A packet of workload flow ``flow``: its ports and hash follow from the number."""
    return SimPacket(len=size, flow=flow, flow_hash=(flow * 0x9E3779B1) & 0xFFFFFFFF,
                     dscp=dscp, sport=1024 + flow, dport=9)


def poisson(rate_pps: float, mean_size: float, count: int, seed: int, flow: int = 0,
            dscp: int = 0, exponential_sizes: bool = True) -> Iterator[Arrival]:
    """Poisson arrivals; sizes exponential (at least 1 byte) or all ``mean_size``."""
    rng = random.Random(seed)
    t = 0.0
    for _ in range(count):
        t += rng.expovariate(rate_pps) * NS
        size = int(mean_size)
        if exponential_sizes:
            size = max(1, round(rng.expovariate(1 / mean_size)))
        yield Arrival(int(t), flow_packet(flow, size, dscp))


def constant(rate_pps: float, size: int, count: int, flow: int = 0, dscp: int = 0,
             start_ns: int = 0) -> Iterator[Arrival]:
    """Evenly spaced arrivals of equal size."""
    gap = NS / rate_pps
    for i in range(count):
        yield Arrival(start_ns + int(i * gap), flow_packet(flow, size, dscp))
