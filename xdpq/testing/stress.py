"""Concurrent enqueue and dequeue on one scheduler, and the exact accounting after it.

One enqueuer thread per CPU, each pinned to its CPU (``os.sched_setaffinity``
of the calling thread), runs ``xdpq_ingress`` with ``BPF_PROG_RUN`` over
varied flows (IPv4 and IPv6, UDP and TCP, many ports and addresses, sizes
78..1514 B, DSCP classes, a few ARP and garbled frames) into one scheduler
object on a virtual clock, while a dequeuer thread runs ``xdpq_step`` (the
code the timer runs) and the transmit path (``xdpq_ingress`` run on behalf of
the egress, not live: the slot is taken, freed and counted ``transmitted``,
nothing is sent) and a sampler thread reads the per-CPU counters over and
over. Then, everything stopped:

- the ingress counters sum to the frames the enqueuers ran, and the verdicts
  agree (``XDP_PASS`` = the ``pass_*`` counters, ``XDP_DROP`` = the frames
  stored (enqueued, or forwarded through the bypass FIFO) plus the arrival
  drops by reason);
- stored == dequeued + AQM drops + still queued (``xdpq_backlog``, the bypass
  FIFO included);
  dequeued == transmitted + still staged (``xdpq_staged``); slots in use ==
  queued + staged;
- a flush drops exactly the queued and staged packets, after which no slot is
  in use and the free list holds every slot index exactly once;
- no counter, on any CPU, was ever seen going backwards.

Each enqueue is its own ``BPF_PROG_RUN`` with ``repeat`` 1: with ``repeat`` > 1
an unattached XDP program costs ~20 ms per call on this kernel (it is put into
the XDP dispatcher and taken out again, see docs/datapath.md), and one frame
per run is what varies the flows. The runs are made through prebuilt
``bpf_test_run_opts``; ctypes releases the GIL for the system call, so the
kernel parts of the threads overlap.

With ``timer`` the scheduler runs on the real clock and its own timer does
the dequeues, in a softirq on whichever CPU an enqueue armed it: every
enqueuer, holding the scheduler's lock inside its ``BPF_PROG_RUN``, may have
the timer fire on its CPU and want the same lock (kern/queue_common.h says
why that cannot deadlock). The dequeuer thread then only transmits, and the
run waits for the timer to drain the queues before the accounting.

The transmit path needs a real egress device whose ifindex differs from the
receiving one: the caller runs this inside the DUT namespace of a veth test
bed (``TestBed.enter``), where ``out0`` is the egress and the loopback the
ingress.
"""

from __future__ import annotations

import ctypes
import os
import random
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from xdpq.bpf import libbpf, xdp_ctx
from xdpq.bpf.maps import u32
from xdpq.bpf.program import XDP_DROP, XDP_PASS, XDP_REDIRECT
from xdpq.errors import BpfError
from xdpq.ir.outcomes import ARRIVAL_DROPS, INGRESS_COUNTERS, PASSED, QUEUE_DROPS, STORED
from xdpq.runtime.counters import counter_names
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.malformed import free_slots
from xdpq.testing.stepper import LOOPBACK, Stepper

_STEP_IO_SIZE = 40  # struct xdpq_step_io (kern/datapath.h): now comes first
_DRAIN_S = 10.0  # at most, for the timer to drain what the enqueuers left


def flow_frames(rng: random.Random, n: int) -> list[bytes]:
    """``n`` distinct frames over many flows; 2 % ARP, 2 % garbled IPv4."""
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.02:
            out.append(bytes(12) + b"\x08\x06" + bytes(46))
            continue
        if r < 0.04:
            out.append(bytes(12) + b"\x08\x00" + bytes([0x15]) + bytes(45))
            continue
        v6 = rng.random() < 0.3
        flow = rng.randrange(4096)
        spec = FrameSpec(
            size=rng.choice((78, 78, 128, 576, 1024, 1514, rng.randint(80, 1514))),
            src=(f"fd00::{flow:x}" if v6 else f"10.{flow >> 8}.{flow & 255}.1"),
            dst=("fd00::ffff" if v6 else "10.255.0.2"),
            sport=1024 + flow, dport=rng.choice((53, 80, 443, 9000 + i % 7)),
            proto=rng.choice((6, 17)), dscp=rng.choice((0, 0, 10, 18, 34, 46)),
        )  # fmt: skip
        out.append(frame(spec))
    return out


class _Runner:
    """BPF_PROG_RUN of one program over prebuilt frames, with as little Python as possible."""

    def __init__(self, prog_fd: int, frames: list[bytes], ifindex: int) -> None:
        self.fd = prog_fd
        self.frames = [ctypes.create_string_buffer(f, len(f)) for f in frames]
        self.sizes = [len(f) for f in frames]
        ctxs = {n: ctypes.create_string_buffer(xdp_ctx(n, ifindex), 32) for n in set(self.sizes)}
        self.ctxs = [ctxs[n] for n in self.sizes]
        self.opts = libbpf.TestRunOpts(sz=ctypes.sizeof(libbpf.TestRunOpts), repeat=1)
        self.run_opts = libbpf.lib().bpf_prog_test_run_opts

    def run(self, i: int) -> int:
        o = self.opts
        o.data_in = ctypes.addressof(self.frames[i])
        o.data_size_out = o.ctx_size_out = 0  # the kernel wrote them back last time
        o.data_size_in = self.sizes[i]
        o.ctx_in = ctypes.addressof(self.ctxs[i])
        o.ctx_size_in = ctypes.sizeof(libbpf.XdpMd)
        if self.run_opts(self.fd, ctypes.byref(o)) != 0:
            raise BpfError("BPF_PROG_RUN of xdpq_ingress", ctypes.get_errno())
        return o.retval


@dataclass
class Result:
    threads: int
    frames: int  # run by the enqueuers
    pinned: list[list[int]] = field(default_factory=list)  # CPUs each enqueuer ran on
    verdicts: Counter[int] = field(default_factory=Counter)
    before_flush: dict[str, int] = field(default_factory=dict)  # counters, packets
    backlog: int = 0
    staged: int = 0
    in_use: int = 0
    slots_peak: int = 0
    steps: int = 0
    flushed: int = 0
    after_flush: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    regressions: list[str] = field(default_factory=list)
    free_ok: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # conservation, in words

    def summary(self) -> dict[str, object]:
        c = self.before_flush
        return {
            "threads": self.threads, "frames": self.frames, "seconds": round(self.seconds, 2),
            "mpps": round(self.frames / self.seconds / 1e6, 3) if self.seconds else 0,
            "pinned": self.pinned,
            "verdicts": {("XDP_DROP" if k == XDP_DROP else "XDP_PASS" if k == XDP_PASS
                          else str(k)): v for k, v in sorted(self.verdicts.items())},
            "counters": {k: v for k, v in c.items() if v},
            "still_queued": self.backlog, "still_staged": self.staged,
            "slots_in_use": self.in_use, "slots_peak": self.slots_peak,
            "steps": self.steps, "flushed": self.flushed, "counter_samples": self.samples,
            "regressions": self.regressions[:5], "free_list_complete": self.free_ok,
            "conservation": not self.errors, "errors": self.errors,
        }  # fmt: skip


def _read(m: object, keys: list[bytes]) -> list[list[tuple[int, int]]]:
    """Per counter, per CPU: (packets, bytes)."""
    return [[struct.unpack_from("=QQ", raw) for raw in m.lookup_percpu(k)]  # type: ignore[attr-defined]
            for k in keys]  # fmt: skip


def run_concurrent(
    stepper: Stepper, frames: int, threads: int | None = None, seed: int = 1,
    distinct: int = 4096, transmit_ratio: float = 1.0, timer: bool = False,
) -> Result:  # fmt: skip
    """Hammer ``stepper`` (which must have an egress) as the module's doc describes."""
    cpus = sorted(os.sched_getaffinity(0))
    threads = threads or len(cpus)
    rng = random.Random(seed)
    per_thread = [frames // threads + (i < frames % threads) for i in range(threads)]
    prog_fd = stepper.obj.prog("xdpq_ingress").fd
    runners = [_Runner(prog_fd, flow_frames(random.Random(rng.random()), distinct), LOOPBACK)
               for _ in range(threads)]  # fmt: skip
    res = Result(threads=threads, frames=frames)
    names = counter_names(stepper.obj)
    keys = [u32(i) for i in names.values()]
    cmap = stepper.obj.map("xdpq_counters")
    stop_deq, stop_sampler = threading.Event(), threading.Event()
    barrier = threading.Barrier(threads + 1)
    failures: list[BaseException] = []
    verdicts = [Counter[int]() for _ in range(threads)]

    def enqueuer(t: int) -> None:
        try:
            cpu = cpus[t % len(cpus)]
            os.sched_setaffinity(0, {cpu})  # this thread only
            res.pinned.append(sorted(os.sched_getaffinity(0)))
            run, counts, n = runners[t].run, verdicts[t], len(runners[t].sizes)
            barrier.wait()
            for i in range(per_thread[t]):
                counts[run(i % n)] += 1
        except BaseException as e:
            failures.append(e)
            barrier.abort()

    step_io = ctypes.create_string_buffer(_STEP_IO_SIZE)
    step = _Runner(stepper.obj.prog("xdpq_step").fd, [bytes(_STEP_IO_SIZE)], 0)
    step.frames[0] = step_io
    tx = _Runner(prog_fd, [bytes(64)], stepper.egress_ifindex)
    bss = stepper.obj.section(".bss")
    if timer:
        stepper.start_timer()

    def dequeuer() -> None:
        """Bursts of 32 dequeues at a rising virtual time, each followed by transmit
        runs for a share ``transmit_ratio`` of what is staged."""
        try:
            now, owed = 0, 0.0
            barrier.wait()
            while not stop_deq.is_set():
                for _ in range(0 if timer else 32):
                    now += 1000
                    struct.pack_into("=Q", step_io, 0, now)
                    step.run(0)
                    res.steps += 1
                owed += 32 * transmit_ratio
                while owed >= 1:
                    owed -= 1
                    if tx.run(0) != XDP_REDIRECT:
                        owed = 0
        except BaseException as e:
            failures.append(e)

    def sampler() -> None:
        prev = _read(cmap, keys)
        names_l = list(names)
        while not stop_sampler.is_set():
            cur = _read(cmap, keys)
            res.samples += 1
            for ci, (old, new) in enumerate(zip(prev, cur, strict=True)):
                for cpu, (a, b) in enumerate(zip(old, new, strict=True)):
                    if b[0] < a[0] or b[1] < a[1]:
                        res.regressions.append(f"{names_l[ci]} on CPU {cpu}: {a} -> {b}")
            prev = cur
            time.sleep(0.0005)

    enq = [threading.Thread(target=enqueuer, args=(t,), name=f"enq{t}") for t in range(threads)]
    deq = threading.Thread(target=dequeuer, name="deq")
    smp = threading.Thread(target=sampler, name="sampler")
    smp.start()
    deq.start()
    for t in enq:
        t.start()
    t0 = time.monotonic()
    for t in enq:
        t.join()
    res.seconds = time.monotonic() - t0
    if timer:  # the timer drains the queues, the dequeuer what it stages
        deadline = time.monotonic() + _DRAIN_S
        while (bss["xdpq_backlog"] or bss["xdpq_staged"]) and time.monotonic() < deadline:
            time.sleep(0.001)
        stepper.stop_timer()
    stop_deq.set()
    deq.join()
    stop_sampler.set()
    smp.join()
    if failures:
        raise failures[0]
    for v in verdicts:
        res.verdicts.update(v)
    _account(stepper, res)
    return res


def _account(stepper: Stepper, res: Result) -> None:
    """Conservation with everything stopped, then after a flush."""
    from xdpq.runtime.counters import read_counters

    bss = stepper.obj.section(".bss")
    c = {k: v.packets for k, v in read_counters(stepper.obj).items()}
    res.before_flush = c
    res.backlog, res.staged = bss["xdpq_backlog"], bss["xdpq_staged"]
    res.in_use, res.slots_peak = bss["xdpq_slots_in_use"], bss["xdpq_slots_peak"]
    e = res.errors
    ingress = sum(c[k] for k in INGRESS_COUNTERS)
    if ingress != res.frames:
        e.append(f"ingress counters sum to {ingress}, {res.frames} frames were run")
    stored = sum(c[k] for k in STORED)
    drops = stored + sum(c[k] for k in ARRIVAL_DROPS)
    if res.verdicts[XDP_DROP] != drops:
        e.append(f"{res.verdicts[XDP_DROP]} XDP_DROP verdicts, stored + drops = {drops}")
    if res.verdicts[XDP_PASS] != sum(c[k] for k in PASSED):
        e.append(f"{res.verdicts[XDP_PASS]} XDP_PASS verdicts, pass_* = "
                 f"{sum(c[k] for k in PASSED)}")  # fmt: skip
    if set(res.verdicts) - {XDP_DROP, XDP_PASS}:
        e.append(f"unexpected verdicts {dict(res.verdicts)}")
    dropped = sum(c[k] for k in QUEUE_DROPS)
    if stored != c["dequeued"] + dropped + res.backlog:
        e.append(f"stored {stored} != dequeued {c['dequeued']} + dropped from the queues "
                 f"{dropped} + still queued {res.backlog}")  # fmt: skip
    if c["dequeued"] != c["transmitted"] + res.staged:
        e.append(f"dequeued {c['dequeued']} != transmitted {c['transmitted']} + "
                 f"still staged {res.staged}")  # fmt: skip
    if res.in_use != res.backlog + res.staged:
        e.append(f"{res.in_use} slots in use, {res.backlog} queued + {res.staged} staged")
    if c["slot_free_fail"]:
        e.append(f"slot_free_fail {c['slot_free_fail']}")
    res.flushed = stepper.flush()
    after = {k: v.packets for k, v in read_counters(stepper.obj).items()}
    res.after_flush = after
    if res.flushed != res.backlog + res.staged:
        e.append(f"flush dropped {res.flushed}, {res.backlog} queued + {res.staged} staged")
    if after["drop_shutdown"] - c["drop_shutdown"] != res.flushed:
        e.append(f"drop_shutdown moved by {after['drop_shutdown'] - c['drop_shutdown']}, "
                 f"{res.flushed} flushed")  # fmt: skip
    for var in ("xdpq_slots_in_use", "xdpq_backlog", "xdpq_staged"):
        if bss[var]:
            e.append(f"{var} = {bss[var]} after the flush")
    pool = stepper.obj.map("xdpq_slots").max_entries
    free = free_slots(stepper.obj)
    res.free_ok = sorted(free) == list(range(pool))
    if not res.free_ok:
        e.append(f"free list holds {len(free)} slots ({len(set(free))} distinct) of {pool}")
    if res.regressions:
        e.append(f"{len(res.regressions)} counter reads went backwards")
