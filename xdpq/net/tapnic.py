"""A NIC stand-in for the test bed: a tap device with a deep ring, drained at line rate.

    with TestBed() as bed, TapNic(bed, rate_bps=100_000_000, ring=1000) as nic:
        # deploy with --out nic0 in the DUT namespace, send through s0 ...
        nic.departures()   # [Departure(departed, len, flow, seq, sent)]

The tap (``nic0`` in the DUT namespace) takes redirected frames into its
ring, ``ring`` frames deep (its tx_queue_len), and refuses frames when the
ring is full, as a NIC's TX ring does; a C thread (``tapnic.c``) reads them
out one at a time at ``rate_bps``, counting ``overhead`` bytes of preamble,
FCS and inter-frame gap per frame. What it reads has left the wire: the log
holds each departure's time and, for the generator's probe frames, the
probe's flow, sequence number and send time, so that a frame's time in the
scheduler and the ring together is ``departed - sent``.

Where a physical NIC has no completion source (most drivers, on kernels
without fentry), neither has this one by default: a deployment onto it runs
with ``--bql off`` and, to keep the ring short, a link rate. For comparison,
:meth:`TapNic.report_completions` makes it a NIC that has one.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

from pyroute2 import NetNS

from xdpq.bpf import BpfObject
from xdpq.bpf.build import compile_host_library
from xdpq.errors import XdpqError
from xdpq.net.testbed import DUT, TestBed

_SOURCE = Path(__file__).with_name("tapnic.c")
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
WIRE_OVERHEAD = 24  # preamble 8, FCS 4, inter-frame gap 12


class _Rec(ctypes.Structure):  # struct xdpq_nic_rec
    _fields_ = [("departed", ctypes.c_uint64), ("sent", ctypes.c_uint64),
                ("seq", ctypes.c_uint64), ("len", ctypes.c_uint32), ("flow", ctypes.c_int32)]


class Departure(NamedTuple):
    departed: int  # ns, CLOCK_MONOTONIC
    len: int  # frame bytes
    flow: int  # probe flow, or -1 for other frames
    seq: int
    sent: int  # ns: when the generator wrote the probe frame (0 for other frames)


@cache
def _lib() -> ctypes.CDLL:
    so = ctypes.CDLL(str(compile_host_library(_SOURCE, ("bpf",))), use_errno=True)
    so.xdpq_nic_start.restype = ctypes.c_void_p
    so.xdpq_nic_start.argtypes = [ctypes.c_int, ctypes.c_uint64, ctypes.c_uint32,
                                  ctypes.c_uint64, ctypes.c_uint64]
    so.xdpq_nic_complete_to.restype = None
    so.xdpq_nic_complete_to.argtypes = [ctypes.c_void_p, ctypes.c_int]
    for name, res in (("xdpq_nic_stop", ctypes.c_int), ("xdpq_nic_count", ctypes.c_uint64),
                      ("xdpq_nic_bytes", ctypes.c_uint64), ("xdpq_nic_realtime", ctypes.c_int),
                      ("xdpq_nic_log", ctypes.POINTER(_Rec)), ("xdpq_nic_free", None)):
        fn = getattr(so, name)
        fn.restype, fn.argtypes = res, [ctypes.c_void_p]
    return so


@dataclass
class TapNic:
    bed: TestBed
    rate_bps: int
    ring: int = 1000  # frames the tap's ring holds: its tx_queue_len
    name: str = "nic0"
    overhead: int = WIRE_OVERHEAD
    catchup_ns: int = 2_000_000  # how far a late reader may catch up back to back
    log: int = 1 << 21  # departures kept

    def __post_init__(self) -> None:
        self._fd = -1
        self._h: int | None = None
        self.ifindex = 0

    def __enter__(self) -> TapNic:
        if self.rate_bps <= 0:
            raise XdpqError(f"a NIC's rate must be above 0, not {self.rate_bps}")
        try:
            with self.bed.enter(DUT):  # the tap is made in the opening thread's namespace
                self._fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
                fcntl.ioctl(self._fd, TUNSETIFF,
                            struct.pack("16sH", self.name.encode(), IFF_TAP | IFF_NO_PI))
            with NetNS(self.bed.ns[DUT]) as ns:
                self.ifindex = ns.link_lookup(ifname=self.name)[0]
                ns.link("set", index=self.ifindex, txqlen=self.ring, state="up")
            self._h = _lib().xdpq_nic_start(self._fd, self.rate_bps, self.overhead,
                                            self.catchup_ns, self.log)
            if not self._h:
                raise OSError(ctypes.get_errno(), "the NIC's drain thread did not start")
        except BaseException:
            self.close()
            raise
        return self

    def report_completions(self, obj: BpfObject | None) -> None:
        """Report every departure to the deployment of ``obj`` (None: to none), as a
        driver's TX completions would: its BQL can then count what the ring holds (deploy
        it with ``external_completions``). Keep ``obj`` open while this reports."""
        if self._h:
            _lib().xdpq_nic_complete_to(
                self._h, obj.prog("xdpq_complete_step").fd if obj is not None else -1)

    @property
    def realtime(self) -> bool:
        """Whether the drain thread got SCHED_FIFO (its timing is then much steadier)."""
        return bool(self._h and _lib().xdpq_nic_realtime(self._h))

    @property
    def sent(self) -> tuple[int, int]:
        """Frames and bytes that have left the wire so far."""
        if not self._h:
            return (0, 0)
        return (_lib().xdpq_nic_count(self._h), _lib().xdpq_nic_bytes(self._h))

    def departures(self) -> list[Departure]:
        """Every departure logged so far (up to ``log`` of them)."""
        if not self._h:
            return []
        n = min(_lib().xdpq_nic_count(self._h), self.log)
        recs = _lib().xdpq_nic_log(self._h)
        return [Departure(r.departed, r.len, r.flow, r.seq, r.sent)
                for r in (recs[i] for i in range(n))]

    def close(self) -> None:
        """Stop draining, close the tap (which removes it); the log goes too."""
        if self._h:
            err = _lib().xdpq_nic_stop(self._h)
            _lib().xdpq_nic_free(self._h)
            self._h = None
            if err:
                raise OSError(err, f"the NIC's drain thread failed: {os.strerror(err)}")
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __exit__(self, *exc: object) -> None:
        self.close()
