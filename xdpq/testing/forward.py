"""Plain XDP forwarding on a test bed: the reference the datapath is held to.

A program on in0 (kern/test/forward.bpf.c) redirects every frame to out0, with
no queueing: the same sender, ingress NAPI and egress as an xdpq deployment on
the same kind of bed, and nothing else. Shared by ``bench/datapath.py`` and the
test bed's tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from xdpq.bpf import BpfObject, compile_bpf
from xdpq.net.testbed import DUT, TestBed
from xdpq.resources import kern_dir


@contextmanager
def plain_forward(bed: TestBed) -> Iterator[None]:
    """Every frame in0 receives redirected to out0 while the context is open."""
    with BpfObject(compile_bpf(kern_dir() / "test/forward.bpf.c")) as obj:
        obj.section(".rodata")["xdpq_fwd_to"] = bed.ifindex("out0")
        obj.load()
        with bed.enter(DUT), obj.prog("xdpq_forward").attach_xdp(bed.ifindex("in0")):
            yield
