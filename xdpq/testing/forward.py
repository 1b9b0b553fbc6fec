"""Plain XDP forwarding on a test bed: the reference the datapath is held to.

A program on in0 (kern/test/forward.bpf.c) redirects every frame to out0, with
no queueing: the same sender, ingress NAPI and egress as an xdpq deployment on
the same kind of bed, and nothing else. Shared by ``bench/datapath.py`` and the
test bed's tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from xdpq.bpf import BpfObject, compile_bpf
from xdpq.bpf.program import Program
from xdpq.net.testbed import DUT, TestBed
from xdpq.resources import kern_dir


@contextmanager
def plain_forward(bed: TestBed, attach: bool = True) -> Iterator[Program]:
    """The forwarder, loaded for the bed; while the context is open, inside the DUT's
    namespace, every frame in0 receives goes to out0 (unless ``attach`` is false: then
    the program is only there to be run)."""
    with BpfObject(compile_bpf(kern_dir() / "test/forward.bpf.c")) as obj:
        obj.section(".rodata")["xdpq_fwd_to"] = bed.ifindex("out0")
        obj.load()
        prog = obj.prog("xdpq_forward")
        with bed.enter(DUT), \
                prog.attach_xdp(bed.ifindex("in0")) if attach else nullcontext():
            yield prog
