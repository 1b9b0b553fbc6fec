"""Build and load BPF objects: clang, and a thin ctypes binding over libbpf."""

from xdpq.bpf.build import compile_bpf
from xdpq.bpf.maps import Map, Section
from xdpq.bpf.object import BpfObject, load
from xdpq.bpf.program import Link, Program, RunResult, xdp_ctx
from xdpq.bpf.ringbuf import RingBuffer

__all__ = [
    "BpfObject",
    "Link",
    "Map",
    "Program",
    "RingBuffer",
    "RunResult",
    "Section",
    "compile_bpf",
    "load",
    "xdp_ctx",
]
