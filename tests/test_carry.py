"""An arrival the scheduler does not take still carries its next frame out.

Cutting through (kern/datapath.h) only happens on the device a deployment names,
on the real clock; here the stepper's ingress runs the program as that device's
would (xdpq_cut_ifindex is the loopback the run names), with a real egress for
the redirect. A full queue refuses the arrival, and the arrival's frame leaves
with the queue's head in it: at saturation a full queue refuses nearly every
arrival, and when only stored arrivals carried departures, one that filled
during a BQL stop drained at a trickle (docs/datapath.md, "Cut through").
"""

from __future__ import annotations

import pytest

from xdpq.bpf import xdp_ctx
from xdpq.bpf.program import XDP_DROP, XDP_REDIRECT
from xdpq.ir.outcomes import Deq
from xdpq.library import compile_fifo
from xdpq.net.testbed import DUT, TestBed
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.stepper import LOOPBACK, Stepper

pytestmark = pytest.mark.kernel


def test_a_refused_arrival_carries_the_head_out() -> None:
    first, second, third = (frame(FrameSpec(200 + 100 * k, sport=k + 1)) for k in range(3))
    with TestBed() as bed, bed.enter(DUT), \
            Stepper(compile_fifo(2).obj_path, egress_ifindex=bed.ifindex("out0")) as s:
        # Stored while nothing may cut through (the stepper's virtual clock).
        assert s.ingress(first) == XDP_DROP and s.ingress(second) == XDP_DROP
        bss = s.obj.section(".bss")
        bss["xdpq_clock_virtual"] = 0
        bss["xdpq_cut_ifindex"] = LOOPBACK
        out = s.obj.prog("xdpq_ingress").run(third, ctx=xdp_ctx(len(third), LOOPBACK))
        assert out.retval == XDP_REDIRECT
        assert out.data[: len(first)] == first  # the head, in the refused arrival's frame
        assert s.packets() == {"enqueued": 2, "drop_queue_full": 1, "dequeued": 1,
                               "transmitted": 1}
        assert bss["xdpq_cut_sent"] == 1
        bss["xdpq_clock_virtual"] = 1
        left = s.step()  # the second is still queued, and only it
        assert (left.result, left.len) == (Deq.OK.value, len(second))
        assert s.step().result == Deq.EMPTY.value
