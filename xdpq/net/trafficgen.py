"""Traffic generator of a test bed: live-frame BPF_PROG_RUN in the sender namespace.

Each run of kern/trafficgen.bpf.c writes one Ethernet/IPv4/UDP frame of the
next flow (weighted round robin) with a probe header (flow, sequence
number, send time) and redirects it into s0::

    with TestBed() as bed, TrafficGen(bed) as gen:
        sent = gen.send([Flow(size=64), Flow(size=1500, dscp=46, weight=3)], count=4000)
        sent.per_flow  # (1000, 3000)

The program is also attached to an idle veth of the sender namespace, only
to keep it in the kernel's XDP dispatcher: otherwise every BPF_PROG_RUN call
of more than one frame waits for an RCU grace period (see docs/datapath.md).
"""

from __future__ import annotations

import ipaddress
import os
import struct
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pyroute2 import NetNS

from xdpq.bpf import BpfObject, Link, compile_bpf, xdp_ctx
from xdpq.bpf.maps import u32
from xdpq.errors import XdpqError
from xdpq.net.testbed import SENDER, TestBed
from xdpq.resources import kern_dir

PROBE_OFF = 14 + 20 + 8  # kern/probe_hdr.h: XDPQ_PROBE_OFF
PROBE_HDR = struct.Struct("=IHQQ")  # struct xdpq_probe_hdr (packed)
PROBE_MAGIC = 0x7864710A
MIN_SIZE = PROBE_OFF + PROBE_HDR.size  # 64: Ethernet, IPv4, UDP and the probe header
MAX_SIZE = 1514  # Ethernet header and a 1500-byte MTU
MAX_FLOWS, PATTERN = 64, 1024  # XDPQ_PROBE_MAX_FLOWS, XDPQ_GEN_PATTERN
MAX_BATCH = 256  # the kernel's limit for live-frame batches
_FLOW = struct.Struct("=HHHBx")  # struct xdpq_gen_flow


@dataclass(frozen=True, slots=True)
class Flow:
    """One flow of test traffic: UDP from s0 to r0."""

    size: int = 64  # whole frame, bytes: MIN_SIZE .. MAX_SIZE
    dscp: int = 0
    sport: int = 10000
    dport: int = 9
    weight: int = 1  # turns per round of the round robin, i.e. share of the packets

    def check(self) -> None:
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise XdpqError(f"frame size {self.size}: must be {MIN_SIZE}..{MAX_SIZE} bytes")
        if not 0 <= self.dscp < 64:
            raise XdpqError(f"DSCP {self.dscp}: must be 0..63")
        if not (0 <= self.sport < 65536 and 0 <= self.dport < 65536):
            raise XdpqError(f"ports {self.sport}/{self.dport}: must be 0..65535")
        if self.weight < 1:
            raise XdpqError(f"weight {self.weight}: must be at least 1")


def pattern(flows: Sequence[Flow]) -> list[int]:
    """Weighted round robin: in each round flow i takes ``weight[i]`` turns, interleaved."""
    out: list[int] = []
    for turn in range(max(f.weight for f in flows)):
        out += [i for i, f in enumerate(flows) if f.weight > turn]
    if len(out) > PATTERN:
        raise XdpqError(f"weights too large: a round has {len(out)} turns, at most {PATTERN}")
    return out


class Sent(int):
    """Frames a ``send`` wrote and redirected: an int (the total) that also knows
    the split per flow, the time taken, and whether the timeout stopped it."""

    per_flow: tuple[int, ...]
    elapsed_s: float
    timed_out: bool

    def __new__(cls, per_flow: Sequence[int], elapsed_s: float, timed_out: bool) -> Sent:
        self = super().__new__(cls, sum(per_flow))
        self.per_flow = tuple(per_flow)
        self.elapsed_s = elapsed_s
        self.timed_out = timed_out
        return self


class TrafficGen:
    """The generator of one test bed; a context manager that unloads on exit.

    ``flows`` may be given here or to ``send``. Sequence numbers run per flow
    from 0 and continue across ``send`` calls with the same flows; new flows
    start over (from 0, at the start of the pattern).
    """

    def __init__(self, bed: TestBed, flows: Sequence[Flow] = ()) -> None:
        self._bed = bed
        self.flows: tuple[Flow, ...] = ()
        self.obj = BpfObject(compile_bpf(kern_dir() / "trafficgen.bpf.c"))
        self._links: list[Link] = []
        self._resident: str | None = None
        self._closed = False
        try:
            self._load()
            if flows:
                self.configure(flows)
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        if not os.path.exists(self._bed.ns_path(SENDER)):  # pyroute2 would create it
            raise XdpqError(f"the test bed {self._bed.prefix} is not up")
        s0 = self._bed.ports["s0"]
        ro = self.obj.section(".rodata")
        ro["xdpq_gen_egress"] = s0.ifindex
        ro["xdpq_gen_egress_netns"] = os.stat(self._bed.ns_path(SENDER)).st_ino
        self.obj.load()
        self.obj.section(".bss").write("xdpq_gen_tmpl", self.template_for(self._bed, PROBE_OFF))
        # The idle veth pair that keeps the program resident; per generator, so
        # that several can share a bed.
        tag = uuid.uuid4().hex[:6]
        self._resident = f"xqg{tag}"
        with NetNS(self._bed.ns[SENDER]) as ns:
            ns.link("add", ifname=self._resident, kind="veth", peer={"ifname": f"xqh{tag}"})
            self._resident_ifindex = ns.link_lookup(ifname=self._resident)[0]
        self.obj.section(".bss")["xdpq_gen_ingress"] = self._resident_ifindex
        with self._bed.enter(SENDER):
            self._links.append(
                self.obj.prog("xdpq_trafficgen").attach_xdp(self._resident_ifindex))
        self._links.append(self.obj.prog("xdpq_gen_xmit_err").attach())
        self._links.append(self.obj.prog("xdpq_gen_redirect_err").attach())

    def configure(self, flows: Sequence[Flow]) -> None:
        """Set the flows; sequence numbers and the pattern start over."""
        flows = tuple(flows)
        if not 1 <= len(flows) <= MAX_FLOWS:
            raise XdpqError(f"1 to {MAX_FLOWS} flows, not {len(flows)}")
        for f in flows:
            f.check()
        order = pattern(flows)
        fmap, sent = self.obj.map("xdpq_gen_flows"), self.obj.map("xdpq_gen_sent")
        for i in range(MAX_FLOWS):
            f = flows[i] if i < len(flows) else None
            fmap.update(u32(i), _FLOW.pack(f.sport, f.dport, f.size, f.dscp) if f else
                        bytes(_FLOW.size))
            sent.update(u32(i), bytes(8))
        bss = self.obj.section(".bss")
        bss.write("xdpq_gen_pattern", struct.pack(f"={PATTERN}I",
                                                  *order, *[0] * (PATTERN - len(order))))
        self.obj.section(".data")["xdpq_gen_pattern_len"] = len(order)
        bss["xdpq_gen_next"] = 0
        self.flows = flows

    @staticmethod
    def template_for(bed: TestBed, size: int) -> bytes:
        """An Ethernet/IPv4/UDP frame of ``size`` bytes from s0 to r0 (through the DUT, a
        bump in the wire: the frame is addressed to r0)."""
        s0, r0 = bed.ports["s0"], bed.ports["r0"]
        eth = bytes.fromhex(r0.mac.replace(":", "")) + bytes.fromhex(s0.mac.replace(":", ""))
        eth += b"\x08\x00"
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - 14, 0, 0, 64, 17, 0,
                         ipaddress.IPv4Address(s0.ip).packed, ipaddress.IPv4Address(r0.ip).packed)
        return eth + ip + bytes(size - len(eth) - len(ip))

    def send(
        self,
        flows: Sequence[Flow] | int | None = None,
        count: int | None = None,
        rate_pps: float | None = None,
        batch: int = 64,
        timeout_s: float = 60.0,
    ) -> Sent:
        """Send ``count`` frames over ``flows`` (or the configured flows), at most
        for ``timeout_s`` seconds, at ``rate_pps`` if given (by sleeping between
        calls of about a millisecond's worth of frames), else as fast as it can.

        ``send(n)`` is short for ``send(count=n)``. The kernel runs ``batch``
        frames at a time (1..256). Returns the frames written and redirected
        into s0; the ones s0 then refused are counted in ``refused``.
        """
        if self._closed:
            raise XdpqError("the traffic generator is closed")
        if isinstance(flows, int):
            flows, count = None, flows
        if count is None or count < 0:
            raise XdpqError("send: give a count of frames (0 or more)")
        if not 1 <= batch <= MAX_BATCH:
            raise XdpqError(f"batch {batch}: must be 1..{MAX_BATCH}")
        if rate_pps is not None and rate_pps <= 0:
            raise XdpqError(f"rate {rate_pps} pps: must be positive")
        if flows is not None and tuple(flows) != self.flows:
            self.configure(flows)
        if not self.flows:
            raise XdpqError("send: no flows configured")
        before = self.sent()
        errors = self.obj.section(".bss")["xdpq_gen_errors"]
        frame = self.template_for(self._bed, max(f.size for f in self.flows))
        prog = self.obj.prog("xdpq_trafficgen")
        ctx = xdp_ctx(len(frame), ifindex=self._resident_ifindex)
        # Frames per call: at a rate, a millisecond's worth; else enough to
        # amortise the call, few enough to notice the timeout promptly.
        chunk = 1024 if rate_pps is None else max(1, min(1024, int(rate_pps / 1000)))
        start = time.monotonic()
        deadline = start + timeout_s
        done, timed_out = 0, False
        with self._bed.enter(SENDER):
            while done < count:
                now = time.monotonic()
                if now >= deadline:
                    timed_out = True
                    break
                if rate_pps is not None:
                    ahead = start + done / rate_pps - now
                    if ahead > 0:
                        time.sleep(min(ahead, deadline - now))
                        continue  # and look at the deadline again
                n = min(chunk, count - done)
                prog.run_live(frame, repeat=n, batch_size=min(batch, n), ctx=ctx)
                done += n
        elapsed = time.monotonic() - start
        if (bad := self.obj.section(".bss")["xdpq_gen_errors"] - errors) != 0:
            raise XdpqError(f"the generator could not build {bad} frames")
        after = self.sent()
        return Sent([a - b for a, b in zip(after, before, strict=True)], elapsed, timed_out)

    def sent(self) -> list[int]:
        """Frames written per configured flow since ``configure`` (the next sequence numbers)."""
        if self._closed:
            raise XdpqError("the traffic generator is closed")
        m = self.obj.map("xdpq_gen_sent")
        return [struct.unpack("=Q", m.lookup(u32(i)) or bytes(8))[0]
                for i in range(len(self.flows))]

    @property
    def refused(self) -> int:
        """Frames written but never sent by s0: its peer's ring was full, or its
        peer (in0) had no XDP program, so s0 took no redirected frames."""
        if self._closed:
            raise XdpqError("the traffic generator is closed")
        bss = self.obj.section(".bss")
        return bss["xdpq_gen_xmit_drops"] + bss["xdpq_gen_redirect_errors"]

    def close(self) -> None:
        for link in self._links:
            link.destroy()
        self._links.clear()
        self.obj.close()
        self._closed = True
        if self._resident is not None and os.path.exists(self._bed.ns_path(SENDER)):
            with NetNS(self._bed.ns[SENDER]) as ns:
                for idx in ns.link_lookup(ifname=self._resident):
                    ns.link("del", index=idx)  # and its peer
        self._resident = None

    def __enter__(self) -> TrafficGen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_probe(frame: bytes) -> tuple[int, int, int]:
    """(flow, seq, tstamp_ns) of a probe frame; XdpqError for anything else."""
    if len(frame) < MIN_SIZE:
        raise XdpqError(f"a {len(frame)}-byte frame is too short for a probe")
    magic, flow, seq, tstamp = PROBE_HDR.unpack_from(frame, PROBE_OFF)
    if magic != PROBE_MAGIC:
        raise XdpqError(f"no probe magic in the frame: {magic:#x}")
    return flow, seq, tstamp
