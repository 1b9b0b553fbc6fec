"""Traffic generator of a test bed: live-frame BPF_PROG_RUN in the sender namespace.

Each run of kern/trafficgen.bpf.c writes one Ethernet/IPv4/UDP frame of the
next flow (weighted round robin) with a probe header (flow, sequence
number, send time) and redirects it into s0. The program is attached to an
idle veth of the sender namespace only to keep it in the kernel's XDP
dispatcher: otherwise every run of more than one frame pays an RCU grace
period (see docs/datapath.md).
"""

from __future__ import annotations

import ipaddress
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import NetNS

from xdpq.bpf import BpfObject, Link, compile_bpf, xdp_ctx
from xdpq.bpf.maps import u32, u64
from xdpq.errors import XdpqError
from xdpq.net.testbed import SENDER, TestBed

_SOURCE = Path(__file__).resolve().parents[2] / "kern/trafficgen.bpf.c"
PROBE_OFF = 14 + 20 + 8
MIN_SIZE = PROBE_OFF + 22  # 64: Ethernet, IPv4, UDP and the probe header
MAX_FLOWS, PATTERN = 64, 1024


@dataclass(frozen=True, slots=True)
class Flow:
    size: int = 64  # frame bytes, at least MIN_SIZE
    dscp: int = 0
    sport: int = 10000
    dport: int = 9
    weight: int = 1  # packets per round of the round robin


def pattern(flows: list[Flow]) -> list[int]:
    """Weighted round robin: flow i takes weight[i] turns per round."""
    out: list[int] = []
    for turn in range(max(f.weight for f in flows)):
        out += [i for i, f in enumerate(flows) if f.weight > turn]
    if len(out) > PATTERN:
        raise XdpqError(f"weights too large: a round has {len(out)} turns, at most {PATTERN}")
    return out


class TrafficGen:
    def __init__(self, bed: TestBed, flows: list[Flow]) -> None:
        if not 1 <= len(flows) <= MAX_FLOWS:
            raise XdpqError(f"1 to {MAX_FLOWS} flows, not {len(flows)}")
        if any(not MIN_SIZE <= f.size <= 1514 for f in flows):
            raise XdpqError(f"frame sizes must be {MIN_SIZE}..1514 bytes")
        self._bed = bed
        self.flows = flows
        self.obj = BpfObject(compile_bpf(_SOURCE))
        self._links: list[Link] = []
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        s0 = self._bed.ports["s0"]
        self.obj.section(".rodata")["gen_egress"] = s0.ifindex
        self.obj.load()
        for i, f in enumerate(self.flows):
            self.obj.map("gen_flows").update(u32(i), struct.pack("=HHHBx", f.sport, f.dport,
                                                                 f.size, f.dscp))
        order = pattern(self.flows)
        padded = order + [0] * (PATTERN - len(order))
        self.obj.section(".bss").write("gen_pattern", struct.pack(f"={PATTERN}I", *padded))
        self.obj.section(".data")["gen_pattern_len"] = len(order)
        self._frame = self._template(max(f.size for f in self.flows))
        with NetNS(self._bed.ns[SENDER]) as ns:
            ns.link("add", ifname="gen0", kind="veth", peer={"ifname": "gen1"})
            self._resident_ifindex = ns.link_lookup(ifname="gen0")[0]
        with self._bed.enter(SENDER):
            self._links.append(self.obj.prog("trafficgen").attach_xdp(self._resident_ifindex))
        self._links.append(self.obj.prog("gen_xmit_err").attach())

    def _template(self, size: int) -> bytes:
        return self.template_for(self._bed, size)

    @staticmethod
    def template_for(bed: TestBed, size: int) -> bytes:
        """An Ethernet/IPv4/UDP frame of ``size`` bytes from s0 to r0 through in0."""
        s0, in0, r0 = (bed.ports[n] for n in ("s0", "in0", "r0"))
        eth = bytes.fromhex(in0.mac.replace(":", "")) + bytes.fromhex(s0.mac.replace(":", ""))
        eth += b"\x08\x00"
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - 14, 0, 0, 64, 17, 0,
                         ipaddress.IPv4Address(s0.ip).packed, ipaddress.IPv4Address(r0.ip).packed)
        return eth + ip + bytes(size - len(eth) - len(ip))

    def send(self, count: int, rate_pps: float | None = None, batch: int = 64,
             timeout_s: float = 60.0) -> int:
        """Send ``count`` frames (at ``rate_pps`` if given); returns how many were sent."""
        prog = self.obj.prog("trafficgen")
        ctx = xdp_ctx(len(self._frame), ifindex=self._resident_ifindex)
        chunk = 256 if rate_pps is None else max(1, min(256, int(rate_pps / 1000)))
        start = time.monotonic()
        sent = 0
        with self._bed.enter(SENDER):
            while sent < count and time.monotonic() - start < timeout_s:
                n = min(chunk, count - sent)
                prog.run_live(self._frame, repeat=n, batch_size=batch, ctx=ctx)
                sent += n
                if rate_pps is not None:
                    ahead = start + sent / rate_pps - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
        return sent

    def sent(self) -> list[int]:
        m = self.obj.map("gen_sent")
        return [struct.unpack("=Q", m.lookup(u32(i)) or u64(0))[0] for i in range(len(self.flows))]

    @property
    def refused(self) -> int:
        """Frames the sender's interface refused (its peer's ring was full)."""
        return self.obj.section(".bss")["gen_xmit_drops"]

    def close(self) -> None:
        for link in self._links:
            link.destroy()
        self._links.clear()
        self.obj.close()

    def __enter__(self) -> TrafficGen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
