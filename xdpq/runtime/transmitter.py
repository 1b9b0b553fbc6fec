"""The transmitter: moves staged slots into the egress device.

It runs the ingress program (see kern/datapath.h for why the transmit path
lives there) with live-frame BPF_PROG_RUN, the context naming the egress.

The loop itself is C (``txloop.c``, built once with clang and cached) running
as a thread of the deploying process, so that it never waits for Python's
GIL: a Python loop between BPF_PROG_RUN calls would hold the GIL and starve
every other thread of the process, and be starved by them. See txloop.c for
the sleep/wake protocol with the scheduler timer.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache
from pathlib import Path

from xdpq.bpf import BpfObject
from xdpq.bpf.build import compile_host_library
from xdpq.errors import BpfError

_SOURCE = Path(__file__).with_name("txloop.c")


@cache
def _lib() -> ctypes.CDLL:
    so = ctypes.CDLL(str(compile_host_library(_SOURCE, ("bpf",))), use_errno=True)
    so.xdpq_tx_start.restype = ctypes.c_void_p
    so.xdpq_tx_start.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    so.xdpq_tx_stop.restype = ctypes.c_int
    so.xdpq_tx_stop.argtypes = [ctypes.c_void_p]
    so.xdpq_tx_calls.restype = ctypes.c_ulonglong
    so.xdpq_tx_calls.argtypes = [ctypes.c_void_p]
    so.xdpq_tx_error.restype = ctypes.c_int
    so.xdpq_tx_error.argtypes = [ctypes.c_void_p]
    return so


class Transmitter:
    """Transmits the staged slots of ``obj`` into ``egress_ifindex`` until stopped."""

    def __init__(self, obj: BpfObject, egress_ifindex: int, batch_size: int = 64) -> None:
        bss = obj.section(".bss")
        self._obj = obj  # keeps the maps and the .bss mapping alive
        self._h = _lib().xdpq_tx_start(
            obj.prog("xdpq_ingress").fd,
            obj.map("xdpq_wake").fd,
            bss.address("xdpq_staged"),
            bss.address("xdpq_tx_sleeping"),
            bss.address("xdpq_tx_busy"),
            egress_ifindex,
            batch_size,
        )
        if not self._h:
            raise BpfError("start the transmitter", ctypes.get_errno())

    @property
    def calls(self) -> int:
        """BPF_PROG_RUN calls made so far."""
        return _lib().xdpq_tx_calls(self._h) if self._h else 0

    @property
    def error(self) -> str | None:
        err = _lib().xdpq_tx_error(self._h) if self._h else 0
        return f"BPF_PROG_RUN failed: {os.strerror(err)}" if err else None

    def stop(self) -> None:
        if self._h:
            err = _lib().xdpq_tx_stop(self._h)
            self._h = None
            if err:
                raise BpfError("the transmitter", err)
