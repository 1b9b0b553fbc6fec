"""The receiver of a test bed: an XDP program on r0 that records probe frames.

    with TestBed() as bed, Receiver(bed) as rcv:
        ...
        rcv.wait(4000)
        rcv.counts()        # {flow: FlowCount(packets, bytes)}
        rcv.arrivals()      # [Arrival(flow, len, seq, latency_ns, sport, dport, dscp, at_ns)]
        rcv.latencies(0)    # one-way latencies of flow 0, in arrival order
        steady_rate(rcv.arrivals())  # bit/s of frame bytes while the queue was standing

Probe frames (kern/probe_hdr.h) are counted per flow, logged (the first 2^20
arrivals) and dropped; anything else is counted as ``other`` and passed.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from statistics import linear_regression
from typing import NamedTuple

from xdpq.bpf import BpfObject, Link, compile_bpf
from xdpq.bpf.maps import u32
from xdpq.errors import XdpqError
from xdpq.net.testbed import RECEIVER, TestBed
from xdpq.resources import kern_dir

_ARRIVAL = struct.Struct("=IIQQHHB3xQ")  # struct xdpq_rcv_arrival
_COUNT = struct.Struct("=QQ")  # struct xdpq_rcv_count
MAX_FLOWS = 64  # XDPQ_PROBE_MAX_FLOWS


class FlowCount(NamedTuple):
    packets: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Arrival:
    flow: int
    len: int  # frame bytes
    seq: int
    latency_ns: int  # one way: receiver's ktime at arrival - sender's at send
    sport: int = 0
    dport: int = 0
    dscp: int = 0
    at_ns: int = 0  # the receiver's ktime at arrival


class Receiver:
    """Attach to the bed's r0 (a context manager, through a bpf_link); read what arrived.

    Reads are of live kernel state: call them once traffic has settled (see
    ``wait``); an arrival being recorded at that moment may be half written.
    """

    def __init__(self, bed: TestBed, cost_ns: int = 0) -> None:
        """``cost_ns``: a slow receiver, each probe frame holding r0's NAPI poll that long
        (at most 1e9 / ``cost_ns`` frames a second), polled in a thread of its own, so that
        what is sent to it waits in out0's ring as in a slow device's."""
        self._bed = bed
        self._threaded = cost_ns > 0
        self.obj = BpfObject(compile_bpf(kern_dir() / "receiver.bpf.c"))
        self.obj.section(".rodata")["xdpq_rcv_cost_ns"] = cost_ns
        self._link: Link | None = None
        self._closed = False

    def _obj(self) -> BpfObject:
        if self._closed:  # its maps are gone: reading them would crash libbpf
            raise XdpqError("the receiver is closed: read it inside its 'with' block")
        return self.obj

    def __enter__(self) -> Receiver:
        try:
            self.obj.load()
            if self._threaded:
                self._bed.set_threaded_napi("r0")
            with self._bed.enter(RECEIVER):
                self._link = self.obj.prog("xdpq_receiver").attach_xdp(self._bed.ifindex("r0"))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._link is not None:
            self._link.destroy()
            self._link = None
        self.obj.close()
        self._closed = True

    @property
    def received(self) -> int:
        """Probe frames that arrived."""
        return self._obj().section(".bss")["xdpq_rcv_arrivals"]

    @property
    def other(self) -> int:
        """Frames that were not probe frames (passed on)."""
        return self._obj().section(".bss")["xdpq_rcv_other"]

    def bss_other(self) -> int:
        """Same as ``other`` (older name)."""
        return self.other

    def wait(self, count: int, timeout_s: float = 10.0, poll_s: float = 0.002) -> bool:
        """Wait until ``count`` probe frames arrived; False if the timeout came first."""
        deadline = time.monotonic() + timeout_s
        while self.received < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)
        return True

    def counts(self, flows: int | None = None) -> dict[int, FlowCount]:
        """(packets, bytes) per flow: flows 0 .. ``flows``-1, or every flow that got any."""
        m = self._obj().map("xdpq_rcv_counts")
        out = {}
        for f in range(MAX_FLOWS if flows is None else flows):
            c = FlowCount(*_COUNT.unpack(m.lookup(u32(f)) or bytes(_COUNT.size)))
            if flows is not None or c.packets:
                out[f] = c
        return out

    def arrivals(self) -> list[Arrival]:
        """Every logged arrival (the first 2^20), in arrival order."""
        log = self._obj().map("xdpq_rcv_log")
        n = min(self.received, log.max_entries)
        with log.mapped() as view:
            raw = view[: n * _ARRIVAL.size]
        return [Arrival(*fields) for fields in _ARRIVAL.iter_unpack(raw)]

    def latencies(self, flow: int) -> list[int]:
        """One-way latencies (ns) of ``flow``'s logged arrivals, in arrival order."""
        return [a.latency_ns for a in self.arrivals() if a.flow == flow]


def rate_between(arrivals: Sequence[Arrival], lo_ns: int, hi_ns: int) -> float:
    """Bit/s of frame bytes that arrived between ``lo_ns`` and ``hi_ns`` (the receiver's
    clock, ``Arrival.at_ns``): the slope of the bytes received against time, fitted by
    least squares (0.0 for fewer than two arrivals). Not the first and last arrival's
    difference: on a busy host the receiver's NAPI runs late now and then, and a batch
    it takes at one end of the span moves that estimate by the whole delay, where the
    fit moves by a share of it."""
    span = sorted((a for a in arrivals if lo_ns <= a.at_ns <= hi_ns), key=lambda a: a.at_ns)
    if len(span) < 2 or span[-1].at_ns == span[0].at_ns:
        return 0.0
    ts = [a.at_ns - span[0].at_ns for a in span]
    # The bytes before each arrival: the first counts from zero.
    before = list(accumulate((a.len for a in span[:-1]), initial=0))
    return 8e9 * linear_regression(ts, before).slope


def steady_rate(arrivals: Sequence[Arrival], skip: float = 0.2) -> float:
    """:func:`rate_between` over the arrivals' time span without its first and last
    ``skip`` (a queue filling up, its drain): the rate a bottleneck gave."""
    if not arrivals:
        return 0.0
    first, last = min(a.at_ns for a in arrivals), max(a.at_ns for a in arrivals)
    cut = int((last - first) * skip)
    return rate_between(arrivals, first + cut, last - cut)
