"""Run a scheduler object deterministically, one packet and one step at a time.

No network: frames enter through ``xdpq_ingress`` as the ingress interface
would deliver them, and ``xdpq_step`` runs one dequeue at a given virtual
time — the code the scheduler timer runs. This is how tests (and the
simulator's differential checks) compare the kernel with a model.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from xdpq.bpf import BpfObject, xdp_ctx
from xdpq.bpf.program import XDP_PASS, XDP_REDIRECT
from xdpq.errors import XdpqError
from xdpq.ir.link import Bql, Shaper
from xdpq.ir.outcomes import Unclaimed
from xdpq.runtime.counters import read_counters
from xdpq.runtime.shaping import write_shaper

LOOPBACK = 1  # a real device for the run's context, and never the egress
NO_EGRESS = 0x7FFFFFFF
_STEP = struct.Struct("=QiIQIIQ")  # struct xdpq_step_io in kern/datapath.h
_COMPLETE = struct.Struct("=QIIQq")  # struct xdpq_complete_io


@dataclass(frozen=True, slots=True)
class Completed:
    blocked: bool  # the scheduler is still stopped on the BQL limit
    limit: int
    inflight: int


@dataclass(frozen=True, slots=True)
class Step:
    result: int  # XDPQ_DEQ_*, or XDPQ_HOLD_* (xdpq.ir.link.Hold) when a limit stopped it
    slot: int
    rank: int
    len: int
    when: int  # LATER: the eligibility time; Hold.RATE: when the rate lets a frame go


class Stepper:
    """``egress_ifindex``: a real device in the caller's namespace (not the loopback)
    makes :meth:`transmit` possible; by default there is none. ``unclaimed``: where
    frames the scheduler does not claim go (the bypass FIFO, or the stack)."""

    def __init__(self, obj_path: str | Path, egress_ifindex: int = NO_EGRESS,
                 unclaimed: Unclaimed = Unclaimed.FORWARD) -> None:
        self.obj = BpfObject(obj_path)
        self.egress_ifindex = egress_ifindex
        try:
            ro = self.obj.section(".rodata")
            ro["xdpq_egress_ifindex"] = egress_ifindex
            ro["xdpq_unclaimed_stack"] = int(unclaimed is Unclaimed.STACK)
            self.obj.load()
            self.obj.section(".bss")["xdpq_clock_virtual"] = 1
            pool = self.obj.map("xdpq_slots").max_entries
            self.obj.prog("xdpq_pool_fill").run(bytes(64), ctx=xdp_ctx(64), repeat=pool,
                                                data_out=False)
            self._fresh = self._scheduler_state()
        except BaseException:
            self.obj.close()
            raise

    def start_timer(self) -> None:
        """The real clock, and the scheduler's own timer dequeuing (as deployed): every
        enqueue arms it. :meth:`stop_timer` goes back to the virtual clock."""
        if self.obj.prog("xdpq_init").run(bytes(64), ctx=xdp_ctx(64)).retval != XDP_PASS:
            raise XdpqError("xdpq_init could not set up the scheduler's timer")
        self.obj.section(".bss")["xdpq_clock_virtual"] = 0

    def stop_timer(self) -> None:
        """Back to the virtual clock: enqueues no longer arm the timer (one already armed
        still fires once)."""
        self.obj.section(".bss")["xdpq_clock_virtual"] = 1

    def ingress(self, frame: bytes, now: int = 0) -> int:
        """Deliver a frame at virtual time ``now``; returns the XDP verdict."""
        self.obj.section(".bss")["xdpq_virtual_now"] = now
        return self.obj.prog("xdpq_ingress").run(frame, ctx=xdp_ctx(len(frame), LOOPBACK)).retval

    def step(self, now: int = 0) -> Step:
        """One dequeue at virtual time ``now``."""
        self.obj.section(".bss")["xdpq_virtual_now"] = now
        io = _STEP.pack(now, 0, 0, 0, 0, 0, 0)
        _, result, slot, rank, length, _, when = _STEP.unpack(
            self.obj.prog("xdpq_step").run(io, ctx=xdp_ctx(len(io))).data[: _STEP.size])
        return Step(result, slot, rank, length, when)

    def complete(self, now: int, frames: int = 1) -> Completed:
        """The device finished ``frames`` of those staged (oldest first) at virtual time
        ``now``: what the BQL completion source does, with the BQL state after it."""
        io = _COMPLETE.pack(now, frames, 0, 0, 0)
        _, _, blocked, limit, inflight = _COMPLETE.unpack(
            self.obj.prog("xdpq_complete_step").run(io, ctx=xdp_ctx(len(io))).data[
                : _COMPLETE.size])
        return Completed(bool(blocked), limit, inflight)

    def set_bql(self, bql: Bql) -> None:
        self.obj.section(".bss")["xdpq_bql_mode"] = int(bql.mode)
        self.obj.section(".data")["xdpq_bql_limit"] = bql.limit

    def set_shaper(self, shaper: Shaper) -> None:
        write_shaper(self.obj, shaper)

    def transmit(self) -> bool:
        """One run of the transmit path (not live: nothing is sent): takes one staged
        slot, frees it, counts it ``transmitted``. False when nothing was staged."""
        if self.egress_ifindex == NO_EGRESS:
            raise ValueError("this Stepper has no egress: pass egress_ifindex")
        tmpl = bytes(64)
        res = self.obj.prog("xdpq_ingress").run(tmpl, ctx=xdp_ctx(64, self.egress_ifindex),
                                                data_out=False)
        return res.retval == XDP_REDIRECT

    def flush(self) -> int:
        """Empty the queues and the transmit ring; returns how many packets were dropped."""
        flush, n = self.obj.prog("xdpq_flush"), 0
        while flush.run(bytes(64), ctx=xdp_ctx(64)).retval == XDP_PASS:
            n += 1
        return n

    def _scheduler_state(self) -> dict[tuple[str, str], bytes]:
        """The generated scheduler's globals (``xq_*``: parameters, state, tokens), the
        BQL state (with the ring of sizes in flight) and the link rate's."""
        return {(sec, name): self.obj.section(sec).read(name)
                for sec in (".data", ".bss") for name in self.obj.section(sec).vars
                if name.startswith(("xq_", "xdpq_bql_", "xdpq_inflight", "xdpq_shape_"))}

    def reset(self) -> None:
        """A fresh run: empty queues, nothing in flight, and the scheduler's, BQL's and
        the link rate's state as it was after load."""
        self.flush()
        for (sec, name), data in self._fresh.items():
            self.obj.section(sec).write(name, data)
        if "xq_flows" in self.obj.maps:
            flows = self.obj.map("xq_flows")
            for key in list(flows.keys()):
                flows.delete(key)

    def reasons(self) -> dict[str, tuple[int, int]]:
        """Drops by the program's own reasons: name -> (packets, bytes), summed over CPUs."""
        if "xdpq_reasons" not in self.obj.maps:
            return {}
        names = self.obj.enum("xdpq_reason")
        m = self.obj.map("xdpq_reasons")
        out = {}
        for const, value in names.items():
            per_cpu = m.lookup_percpu(value.to_bytes(4, "little"))
            packets = sum(int.from_bytes(v[:8], "little") for v in per_cpu)
            nbytes = sum(int.from_bytes(v[8:16], "little") for v in per_cpu)
            out[const.removeprefix("XQ_R_")] = (packets, nbytes)
        return out

    def packets(self) -> dict[str, int]:
        """Non-zero counters, in packets."""
        return {k: v.packets for k, v in read_counters(self.obj).items() if v.packets}

    def close(self) -> None:
        self.obj.close()

    def __enter__(self) -> Stepper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
