"""The receiver of a test bed: an XDP program on r0 that records probe frames."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from xdpq.bpf import BpfObject, Link, compile_bpf
from xdpq.bpf.maps import u32
from xdpq.net.testbed import RECEIVER, TestBed

_SOURCE = Path(__file__).resolve().parents[2] / "kern/receiver.bpf.c"
_ARRIVAL = struct.Struct("=IIQQ")


@dataclass(frozen=True, slots=True)
class Arrival:
    flow: int
    len: int
    seq: int
    latency_ns: int


class Receiver:
    """Attach to the bed's r0 (a context manager); read counts and arrivals."""

    def __init__(self, bed: TestBed) -> None:
        self._bed = bed
        self.obj = BpfObject(compile_bpf(_SOURCE))
        self._link: Link | None = None

    def __enter__(self) -> Receiver:
        try:
            self.obj.load()
            with self._bed.enter(RECEIVER):
                self._link = self.obj.prog("receiver").attach_xdp(self._bed.ports["r0"].ifindex)
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

    @property
    def received(self) -> int:
        return self.obj.section(".bss")["rcv_arrivals"]

    def bss_other(self) -> int:
        """Frames that were not probe frames (passed on)."""
        return self.obj.section(".bss")["rcv_other"]

    def counts(self, flows: int) -> list[tuple[int, int]]:
        """(packets, bytes) for flows 0 .. flows-1."""
        m = self.obj.map("rcv_counts")
        return [struct.unpack("=QQ", m.lookup(u32(f)) or bytes(16)) for f in range(flows)]

    def arrivals(self) -> list[Arrival]:
        """Every logged arrival, in arrival order."""
        n = min(self.received, self.obj.map("rcv_log").max_entries)
        with self.obj.map("rcv_log").mapped() as view:
            raw = view[: n * _ARRIVAL.size]
        return [Arrival(*fields) for fields in _ARRIVAL.iter_unpack(raw)]
