"""Deploy a scheduler object between two interfaces, observe it, take it down.

    c = compile_file("schedulers/stfq.xdpq")
    with Deployment(c.obj_path, "in0", "out0", program=c.program,
                    params={"weight": [1, 2, 1, 1, 1, 1, 1, 1]}) as d:
        d.set_params({"weight": [1, 3, 1, 1, 1, 1, 1, 1]})
        print(d.stats())

``program`` is the IR the object was compiled from: parameters are named as
in the program and checked (names, ranges, table sizes) before anything is
loaded. ``unclaimed`` says where frames the scheduler does not claim go: out
of the egress through the bypass FIFO (the default), or to the local stack.
The egress is identified to the tracepoints by its ifindex and the cookie of
the calling thread's network namespace. With ``pin_dir``, every map is pinned there
once loaded, so that other processes can read and change the running
scheduler (see :meth:`xdpq.bpf.BpfObject.reuse_pinned_maps`); the pins go in
``close()``.

With ``resume`` (and ``pin_dir``), the maps are not made but taken from the
pins a deployment left behind when its process died (SIGKILL, a crash): what
it had queued and staged, its counters, parameters and BQL state carry on,
and the fresh programs are attached in its place (see :meth:`_resume_bql`).

BQL needs completions, which the datapath counts itself only for a veth
egress. ``external_completions`` says that something else reports them through
the ``xdpq_complete_step`` program (the test bed's NIC stand-in does, as a
driver's TX completions would), so that BQL may run on another egress.

Order matters both ways. Up: load, fill the slot pool, arm the timer's
callback, attach the completion tracepoints, start the transmitter, and only
then attach the ingress program (through a bpf_link, so that a dying process
leaves nothing attached). Down: detach the ingress first, let the
transmitter drain what is queued, stop it, flush what is left (counted as
``drop_shutdown``), and every slot is back in the pool.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from xdpq import ir
from xdpq.bpf import BpfObject, Link, Program, xdp_ctx
from xdpq.errors import XdpqError
from xdpq.ir.link import Bql, BqlMode, Shaper, default_bql
from xdpq.ir.outcomes import Unclaimed
from xdpq.ir.params import resolve_params
from xdpq.net.host import netns_cookie
from xdpq.net.links import link_info
from xdpq.runtime.counters import Count, Stops, read_counters, read_stops
from xdpq.runtime.params import write_params
from xdpq.runtime.shaping import read_shaper, write_shaper
from xdpq.runtime.transmitter import Transmitter

DRAIN_TIMEOUT_S = 5.0
_PASS = 2


@dataclass
class Stats:
    counters: dict[str, Count]
    backlog: int
    staged: int
    slots_in_use: int
    slots_peak: int
    bql_mode: str
    bql_limit: int
    inflight: int
    completed_bytes: int
    timer_fires: int
    tx_runs: int
    tx_calls: int
    wakeups: int
    cut_through: int  # frames arrivals sent in their own place (kern/datapath.h)
    shaper: Shaper
    stops: Stops
    extra: dict[str, int] = field(default_factory=dict)


def check_bql_egress(bql: Bql, egress: str, kind: str) -> None:
    """Refuse a limit that needs completions on an egress that reports none: the
    datapath counts them (``xdpq_complete``, on ``napi_poll``) only for a veth (``kind``:
    the egress's link kind, "" for a NIC)."""
    if bql.mode != BqlMode.OFF and kind != "veth":
        raise XdpqError(
            f"--bql {bql.mode.name.lower()} needs a completion source, and xdpq has one "
            f"only for veth egress devices ({egress} is {kind or 'a physical NIC'}): "
            "use --bql off")


def write_bql(obj: BpfObject, bql: Bql, release: Program | None = None) -> None:
    """Write the BQL mode and limit into the scheduler's globals; with ``release`` (its
    ``xdpq_release`` program, loaded or pinned), run it, so that a scheduler held on the
    old limit (``fixed:0``) stages again at once."""
    obj.section(".data")["xdpq_bql_limit"] = bql.limit
    obj.section(".bss")["xdpq_bql_mode"] = int(bql.mode)
    if release is not None:
        release.run(bytes(64), ctx=xdp_ctx(64))


class Deployment:
    def __init__(
        self,
        obj_path: str | Path,
        ingress: str,
        egress: str,
        program: ir.Program,
        bql: Bql | None = None,
        params: Mapping[str, int | list[int]] | None = None,
        shaper: Shaper | None = None,
        pin_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
        unclaimed: Unclaimed = Unclaimed.FORWARD,
        external_completions: bool = False,
        cut_through: bool = True,
    ) -> None:
        self.shaper = shaper or Shaper()
        self.bql = bql or default_bql(self.shaper)
        self.unclaimed = unclaimed  # resumed: what the scheduler left behind was given
        self.cut_through = cut_through
        self.program = program
        self.pin_dir = Path(pin_dir) if pin_dir is not None else None
        self._pins: list[Path] = []
        resolve_params(program, params or {})  # refuse before anything is loaded
        self.ingress = link_info(ingress)
        self.egress = link_info(egress)
        if self.ingress.ifindex == self.egress.ifindex:
            raise XdpqError(f"ingress and egress are both {ingress}: they must differ")
        if not external_completions:  # a device model reports them (xdpq_complete_step)
            check_bql_egress(self.bql, egress, self.egress.kind)
        self.obj = BpfObject(obj_path)
        self.resumed = resume
        self.taken_over = (0, 0)  # resumed: packets queued and staged that it took over
        self.final: Stats | None = None  # the last statistics, taken by stop()
        self._links: list[Link] = []
        self._tx: Transmitter | None = None
        self._keep_maps = resume  # a failed resume leaves what it found as it was
        try:
            if resume:
                if self.pin_dir is None:
                    raise XdpqError("resume needs the pin directory of the deployment")
                self.obj.reuse_pinned_maps(self.pin_dir)
            self._start(params or {})
            self._keep_maps = False
        except BaseException:
            self.close()
            raise

    def _start(self, params: Mapping[str, int | list[int]]) -> None:
        ro = self.obj.section(".rodata")
        egress = {"xdpq_egress_ifindex": self.egress.ifindex, "xdpq_egress_netns": netns_cookie(),
                  "xdpq_egress_peer_ifindex": self.egress.peer_ifindex}
        if self.resumed:
            if any(ro[k] != v for k, v in egress.items()):
                raise XdpqError(
                    f"cannot resume: the scheduler left behind sends to interface index "
                    f"{ro['xdpq_egress_ifindex']} (peer {ro['xdpq_egress_peer_ifindex']}, "
                    f"namespace cookie {ro['xdpq_egress_netns']}), and {self.egress.name} is "
                    f"now {self.egress.ifindex} (peer {self.egress.peer_ifindex}, namespace "
                    f"cookie {egress['xdpq_egress_netns']}): it was recreated")
            self.unclaimed = Unclaimed.STACK if ro["xdpq_unclaimed_stack"] else Unclaimed.FORWARD
        else:
            for k, v in egress.items():
                ro[k] = v
            ro["xdpq_unclaimed_stack"] = int(self.unclaimed is Unclaimed.STACK)
        self.obj.load()
        if self.resumed:
            self._resume_bql()
        write_bql(self.obj, self.bql)
        write_shaper(self.obj, self.shaper)
        self.set_params(params)
        if self.pin_dir is not None:
            for m in self.obj.maps.values():  # one by one: close() removes what was made
                path = self.pin_dir / self.obj.pin_name(m.name)
                if not self.resumed:
                    m.pin(str(path))
                self._pins.append(path)
            for prog in self.obj.programs.values():  # so that others can run xdpq_release
                path = self.pin_dir / f"prog_{prog.name}"
                path.unlink(missing_ok=True)  # resumed: the dead process's copy
                prog.pin(str(path))
                self._pins.append(path)
        pool = self.obj.map("xdpq_slots").max_entries
        frame = bytes(64)
        if not self.resumed:  # resumed: the free list holds what is not queued or staged
            self.obj.prog("xdpq_pool_fill").run(frame, ctx=xdp_ctx(64), repeat=pool,
                                                data_out=False)
        # Resumed, the timer is set up already: its callback becomes this object's.
        if self.obj.prog("xdpq_init").run(frame, ctx=xdp_ctx(64)).retval != _PASS:
            raise XdpqError("the scheduler timer could not be set up")
        for tracepoint in ("xdpq_complete", "xdpq_xmit_flush", "xdpq_redirect_err"):
            self._links.append(self.obj.prog(tracepoint).attach())
        self._tx = Transmitter(self.obj, self.egress.ifindex)
        self._links.append(self.obj.prog("xdpq_ingress").attach_xdp(self.ingress.ifindex))
        # Arrivals send the scheduler's next frame in their place only where the program
        # runs in the driver: generic XDP sends redirected frames without the bulk queue
        # whose flush says they left (kern/datapath.h, "cut through").
        native = self.cut_through and link_info(self.ingress.name).xdp_native
        self.obj.section(".bss")["xdpq_cut_ifindex"] = self.ingress.ifindex if native else 0
        if self.resumed:  # a scheduler the dead one left stopped on a limit
            self.obj.prog("xdpq_release").run(frame, ctx=xdp_ctx(64))

    def _resume_bql(self) -> None:
        """BQL counts bytes staged or handed to the device and not yet completed. While
        the process was dead nothing counted completions, yet the device finished what
        it had long ago: only the staged frames are still in flight. Hold the scheduler
        (limit 0: its timer, still running, stages nothing more), then keep the sizes of
        the newest ``staged`` frames in flight and retire the rest."""
        bss = self.obj.section(".bss")
        write_bql(self.obj, Bql.hold())
        time.sleep(0.01)  # a timer callback that read the old limit finishes its burst
        self.taken_over = (bss["xdpq_backlog"], bss["xdpq_staged"])
        ring = bss.read("xdpq_inflight_ring")
        slots = len(ring) // 4
        head, tail = bss["xdpq_inflight_head"], bss["xdpq_inflight_tail"]
        head = tail - min(bss["xdpq_staged"], tail - head)
        bss["xdpq_inflight_head"] = head
        bss["xdpq_inflight"] = sum(struct.unpack_from("=I", ring, 4 * (i % slots))[0]
                                   for i in range(head, tail))  # staged: none refused

    # -- observe and change ----------------------------------------------------

    def set_params(self, values: Mapping[str, int | list[int]]) -> dict[str, int | list[int]]:
        """Change parameters live, named as in the program and checked. Returns what
        was written."""
        return write_params(self.obj, self.program, values)

    def set_bql(self, bql: Bql) -> None:
        """Change the BQL mode and limit live (a fixed limit of 0 holds the scheduler)."""
        self.bql = bql
        write_bql(self.obj, bql, self.obj.prog("xdpq_release"))

    def set_shaper(self, shaper: Shaper) -> None:
        """Change the link rate (burst, overhead, limit in time) live."""
        self.shaper = shaper
        write_shaper(self.obj, shaper, self.obj.prog("xdpq_release"))

    @property
    def tx_calls(self) -> int:
        """The transmitter's BPF_PROG_RUN calls so far (0 once stopped)."""
        return self._tx.calls if self._tx is not None else 0

    @property
    def tx_error(self) -> str | None:
        """Why the transmitter stopped by itself, or None while it runs (or was stopped)."""
        return self._tx.error if self._tx is not None else None

    def stats(self) -> Stats:
        if self.tx_error:
            raise XdpqError(f"the transmitter stopped: {self.tx_error}")
        bss = self.obj.section(".bss")
        data = self.obj.section(".data")
        inflight = bss["xdpq_inflight"]
        return Stats(
            counters=read_counters(self.obj),
            backlog=bss["xdpq_backlog"],
            staged=bss["xdpq_staged"],
            slots_in_use=bss["xdpq_slots_in_use"],
            slots_peak=bss["xdpq_slots_peak"],
            bql_mode=BqlMode(bss["xdpq_bql_mode"]).name.lower(),
            bql_limit=data["xdpq_bql_limit"],
            inflight=inflight - (1 << 64) if inflight >= 1 << 63 else inflight,
            completed_bytes=bss["xdpq_completed_bytes"],
            timer_fires=bss["xdpq_timer_fires"],
            tx_runs=bss["xdpq_tx_runs"],
            tx_calls=self.tx_calls,
            wakeups=bss["xdpq_wakeups"],
            cut_through=bss["xdpq_cut_sent"],
            shaper=read_shaper(self.obj),
            stops=read_stops(self.obj),
        )

    # -- take down -------------------------------------------------------------

    def stop(self) -> Stats | None:
        """Detach the ingress, drain, stop the transmitter, flush: the final statistics
        (also in ``final``); the maps stay readable until ``close()``. Safe to repeat."""
        ingress = self._links[-1:] if self._tx is not None else []
        for link in ingress:
            link.destroy()
            self._links.remove(link)
        if self._tx is not None and self.obj.loaded:
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            bss = self.obj.section(".bss")
            while (bss["xdpq_backlog"] or bss["xdpq_staged"]) and time.monotonic() < deadline:
                if self.tx_error:
                    break
                time.sleep(0.001)
            tx, self._tx = self._tx, None
            with contextlib.suppress(XdpqError):  # known (``stats()`` raised it): stop anyway
                tx.stop()
        if self.obj.loaded and self.final is None and not self._keep_maps:
            flush = self.obj.prog("xdpq_flush")
            while flush.run(bytes(64), ctx=xdp_ctx(64)).retval == _PASS:
                pass
            self.final = self.stats()
        return self.final

    def close(self) -> None:
        """Stop (see ``stop``), detach everything, remove the pins; safe to repeat."""
        self.stop()
        for link in self._links:
            link.destroy()
        self._links.clear()
        for pin in self._pins:
            if not (self._keep_maps and not pin.name.startswith("prog_")):
                pin.unlink(missing_ok=True)
        self._pins.clear()
        self.obj.close()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
