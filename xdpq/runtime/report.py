"""Statistics of a running scheduler: collected from its maps, shown as a table, as
JSON, or in Prometheus' text exposition format.

``in`` is every frame the ingress program saw (stored, passed, or dropped on
arrival); ``out`` is what the egress driver took (``transmitted`` less what it
refused, ``drop_xmit``). Drops are the datapath's reasons (``drop_*``, see
kern/counters.h) and, separately, the scheduler program's own (``drop reason``
statements in the .xdpq file), which refine the datapath's ``admission`` and
``aqm`` drops. ``egress`` says whether the egress refuses frames, with what
error and since when.
"""

from __future__ import annotations

import errno
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from xdpq import ir
from xdpq.bpf import BpfObject
from xdpq.bpf.maps import u32
from xdpq.ir.layout import layout
from xdpq.ir.link import BqlMode
from xdpq.ir.outcomes import INGRESS_COUNTERS
from xdpq.ir.params import format_values
from xdpq.runtime.counters import read_counters, read_stops
from xdpq.runtime.params import read_params
from xdpq.runtime.shaping import read_shaper


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _signed32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


def scheduler_reasons(obj: BpfObject, kind: str = "reason") -> dict[str, dict[str, int]]:
    """Drops by the program's own reasons (``XQ_R_<name>``), summed over CPUs; with
    ``kind="mark"``, its ECN marks (``mark ce <name>``: ``XQ_M_<name>``)."""
    if f"xdpq_{kind}s" not in obj.maps:
        return {}
    m = obj.map(f"xdpq_{kind}s")
    out = {}
    for const, value in obj.enum(f"xdpq_{kind}").items():
        per_cpu = m.lookup_percpu(u32(value))
        out[const.split("_", 2)[2]] = {
            "packets": sum(int.from_bytes(v[:8], "little") for v in per_cpu),
            "bytes": sum(int.from_bytes(v[8:16], "little") for v in per_cpu)}
    return out


def queue_occupancy(obj: BpfObject, prog: ir.Program) -> dict[str, dict[str, int]]:
    """Per queue: packets and bytes held now, and its capacity (per queue of an array).
    An array of queues is summed, with how many of its queues hold packets. (A
    parent's packets are the queues it holds.)"""
    lay = layout(prog)
    sec = obj.section(".data.xq")
    whole = sec.snapshot()
    fields = obj.struct("xdpq_node")
    base, step = sec.vars["xdpq_nodes"].offset, fields[""].size
    out = {}
    for q in prog.queues:
        packets = nbytes = busy = 0
        for n in lay.nodes_of(q.name, q.count):
            at = base + n * step
            held = struct.unpack_from("=I", whole, at + fields["len"].offset)[0]
            packets += held
            nbytes += struct.unpack_from("=Q", whole, at + fields["bytes"].offset)[0]
            busy += held > 0
        entry = {"packets": packets, "bytes": nbytes, "capacity": q.capacity, "kind": q.kind}
        if q.count is not None:
            entry.update(queues=q.count, busy=busy)
        out[q.name] = entry
    return out


def _wall(ktime_ns: int) -> str:
    """A CLOCK_MONOTONIC time of the kernel's (bpf_ktime_get_ns) as UTC, ISO 8601."""
    at = time.time() - (time.monotonic_ns() - ktime_ns) / 1e9
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def egress_state(obj: BpfObject) -> dict[str, Any]:
    """Whether the egress refuses frames: it did, with an error, after it last took one
    (kern/datapath.h ``xdpq_refusal``). A full device queue (error 0) drops frames
    (``drop_xmit``) but is congestion, not a refusal."""
    bss = obj.section(".bss")
    err, refused_at = -_signed32(bss["xdpq_egress_err"]), bss["xdpq_egress_refused_at"]
    ok_at, since = bss["xdpq_egress_ok_at"], bss["xdpq_egress_refusing_since"]
    if err:  # Linux's name for 95, where Python's table has the POSIX alias ENOTSUP
        error: str | None = "EOPNOTSUPP" if err == errno.EOPNOTSUPP else errno.errorcode.get(
            err, str(err))
    else:
        error = "queue full" if refused_at else None
    return {
        "refusing": bool(err) and refused_at > ok_at,
        "error": error,
        "since": _wall(since) if refused_at > ok_at else None,
        "last_refused": _wall(refused_at) if refused_at else None,
        "last_taken": _wall(ok_at) if ok_at else None,
    }


def in_out(c: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """``in`` (every frame the ingress program saw) and ``out`` (what the egress took) of
    counters by name."""
    return {"in": {u: sum(c[k][u] for k in INGRESS_COUNTERS if k in c)
                   for u in ("packets", "bytes")},
            "out": {u: c["transmitted"][u] - c["drop_xmit"][u] for u in ("packets", "bytes")}}


def counters(obj: BpfObject) -> dict[str, dict[str, int]]:
    return {k: {"packets": v.packets, "bytes": v.bytes} for k, v in read_counters(obj).items()}


def rates(now: dict[str, dict[str, int]], before: dict[str, dict[str, int]], seconds: float
          ) -> dict[str, dict[str, float]]:
    """Bits and packets per second of ``in`` and ``out`` (see :func:`in_out`) between two
    readings ``seconds`` apart, as tc's rate estimator shows them."""
    return {way: {"bps": 8 * (now[way]["bytes"] - before[way]["bytes"]) / seconds,
                  "pps": (now[way]["packets"] - before[way]["packets"]) / seconds}
            for way in ("in", "out")}


def _nested_drops(obj: BpfObject, prog: ir.Program, c: dict[str, dict[str, int]]
                  ) -> dict[str, dict[str, Any]]:
    """The datapath's drops by reason; the scheduler program's own reasons inside the
    datapath reason they are counted under: ``admission`` for a ``drop`` in its enqueue
    hook, ``aqm`` in its dequeue hook. A reason the program uses in both hooks is
    counted once by the kernel, so it is listed under ``program`` instead."""
    drops: dict[str, dict[str, Any]] = {k.removeprefix("drop_"): dict(v) for k, v in c.items()
                                        if k.startswith("drop_")}
    hooks = reason_hooks(prog)
    for reason, v in scheduler_reasons(obj).items():
        where = {"enqueue": "admission", "dequeue": "aqm"}.get(hooks.get(reason, ""), "program")
        drops.setdefault(where, {"packets": 0, "bytes": 0}).setdefault("reasons", {})[reason] = v
    return drops


def reason_hooks(prog: ir.Program) -> dict[str, str]:
    """Each drop reason of the program: the hook it is used in (``enqueue``, ``dequeue``),
    or ``both``."""
    out: dict[str, str] = {}

    def walk(body: tuple[ir.Stmt, ...], hook: str) -> None:
        for st in body:
            match st:
                case ir.Drop(reason=r):
                    out[r] = hook if out.get(r, hook) == hook else "both"
                case ir.If(then=then, orelse=orelse):
                    walk(then, hook)
                    walk(orelse, hook)

    walk(prog.enqueue.body, "enqueue")
    if prog.dequeue is not None:
        walk(prog.dequeue.body, "dequeue")
    return out


def collect(obj: BpfObject, prog: ir.Program, runtime: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    """Everything ``xdpq stats`` shows, as plain data."""
    c = counters(obj)
    bss, data = obj.section(".bss"), obj.section(".data")
    runtime = runtime or {}
    tx_runs = bss["xdpq_tx_runs"]
    tx_calls = int(runtime.get("tx_calls") or 0)
    shaper, stops = read_shaper(obj), read_stops(obj)
    return {
        "time": time.time(),
        "program": prog.name,
        **in_out(c),
        "rates": runtime.get("rates"),  # the deploying process's estimate, each second
        "enqueued": c.get("enqueued"),
        "dequeued": c.get("dequeued"),
        "drops": _nested_drops(obj, prog, c),
        "dropped": {u: sum(v[u] for k, v in c.items() if k.startswith("drop_"))
                    for u in ("packets", "bytes")},
        "marks": scheduler_reasons(obj, "mark"),  # ECN CE, by the program's reason
        "passes": {k.removeprefix("pass_"): v for k, v in c.items() if k.startswith("pass_")},
        "forwards": {k.removeprefix("forward_"): v for k, v in c.items()
                     if k.startswith("forward_")},
        "pifo_clamped": c.get("pifo_clamped", {}).get("packets", 0),
        "queues": {**queue_occupancy(obj, prog),
                   "bypass": {"packets": bss["xdpq_bypass_packets"],
                              "bytes": bss["xdpq_bypass_bytes"],
                              "capacity": obj.map("xdpq_bypass").max_entries, "kind": "fifo"}},
        "egress_state": egress_state(obj),
        "backlog": bss["xdpq_backlog"],
        "staged": bss["xdpq_staged"],
        "slots": {"in_use": bss["xdpq_slots_in_use"], "peak": bss["xdpq_slots_peak"],
                  "pool": obj.map("xdpq_slots").max_entries},
        "bql": {"mode": BqlMode(bss["xdpq_bql_mode"]).name.lower(),
                "limit": data["xdpq_bql_limit"], "inflight": _signed(bss["xdpq_inflight"]),
                "peak": bss["xdpq_bql_peak"], "completed_bytes": bss["xdpq_completed_bytes"],
                "completion_polls": bss["xdpq_complete_polls"],
                "forgiven": bss["xdpq_bql_forgiven"], "starved": bss["xdpq_bql_starved"]},
        "rate": {"rate_bps": shaper.rate, "burst_ns": shaper.burst_ns,
                 "overhead": shaper.overhead, "latency_ns": shaper.latency_ns,
                 "limit_bytes": shaper.limit, "backlog_bytes": bss["xdpq_backlog_bytes"],
                 "setting": shaper.describe()},
        "binding": stops.binding,
        "stops": stops.counts,
        "transmitter": {"runs": tx_runs, "batches": tx_calls,
                        "per_batch": round(tx_runs / tx_calls, 1) if tx_calls else 0.0,
                        "timer_fires": bss["xdpq_timer_fires"], "wakeups": bss["xdpq_wakeups"],
                        "cut_through": bss["xdpq_cut_sent"],
                        "error": runtime.get("tx_error")},
        "params": format_values(prog, read_params(obj, prog)),
        "param_values": read_params(obj, prog),
    }


# -- Prometheus text exposition ------------------------------------------------------------


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus(stats: dict[str, dict[str, Any]]) -> str:
    """The text exposition format (version 0.0.4) for deployments ``{name: collect()}``."""
    families: dict[str, tuple[str, str, list[str]]] = {}

    def add(metric: str, kind: str, help_: str, labels: dict[str, str], value: float) -> None:
        fam = families.setdefault(metric, (kind, help_, []))
        lab = ",".join(f'{k}="{_esc(str(v))}"' for k, v in labels.items())
        fam[2].append(f"{metric}{{{lab}}} {value}")

    for name, whole in stats.items():
        add("xdpq_up", "gauge", "1 while the deployment runs", {"deployment": name},
            0 if "stopped" in whole else 1)
        ways = [({"deployment": name}, whole)]
        if "reverse" in whole:  # --both: each direction has its own figures
            ways = [({"deployment": name, "direction": "forward"}, whole),
                    ({"deployment": name, "direction": "reverse"}, whole["reverse"])]
        for d, s in ways:
            _direction(add, d, s)
        for p, v in whole["param_values"].items():
            values = v if isinstance(v, list) else [v]
            for i, x in enumerate(values):
                labels = {"deployment": name, "param": p,
                          **({"index": str(i)} if isinstance(v, list) else {})}
                add("xdpq_param", "gauge", "scheduler parameter, canonical unit", labels, x)
    lines = []
    for metric, (kind, help_, samples) in families.items():
        lines.append(f"# HELP {metric} {help_}")
        lines.append(f"# TYPE {metric} {kind}")
        lines.extend(samples)
    return "\n".join(lines) + "\n"


# Packet counters by reason: (key in collect(), metric, help)
_BY_REASON = (
    ("marks", "xdpq_scheduler_marks_total",
     "packets the scheduler program marked ECN CE, by its own reason"),
    ("passes", "xdpq_passes_total", "packets passed to the stack, by reason"),
    ("forwards", "xdpq_forwards_total",
     "packets the scheduler did not claim, sent on through the bypass FIFO, by reason"),
)


def _direction(add: Callable[[str, str, str, dict[str, str], float], None],
               d: dict[str, str], s: dict[str, Any]) -> None:
    """The samples of one direction of a deployment, labelled ``d``."""
    for way in ("in", "out"):
        add(f"xdpq_{way}_packets_total", "counter",
            f"packets {'seen by the ingress program' if way == 'in' else 'the egress took'}",
            d, s[way]["packets"])
        add(f"xdpq_{way}_bytes_total", "counter",
            f"bytes {'seen by the ingress program' if way == 'in' else 'the egress took'}",
            d, s[way]["bytes"])
    for reason, v in s["drops"].items():
        add("xdpq_drops_total", "counter", "packets dropped, by datapath reason",
            {**d, "reason": reason}, v["packets"])
        add("xdpq_drop_bytes_total", "counter", "bytes dropped, by datapath reason",
            {**d, "reason": reason}, v["bytes"])
    for datapath, v in s["drops"].items():
        for reason, w in v.get("reasons", {}).items():
            add("xdpq_scheduler_drops_total", "counter",
                "packets dropped by the scheduler program, by its own reason (within the "
                "datapath reason: admission, aqm)", {**d, "reason": reason, "within": datapath},
                w["packets"])
    for key, metric, help_ in _BY_REASON:
        for reason, v in s[key].items():
            add(metric, "counter", help_, {**d, "reason": reason}, v["packets"])
    for q, v in s["queues"].items():
        add("xdpq_queue_packets", "gauge", "packets held in a queue (summed over an array)",
            {**d, "queue": q}, v["packets"])
        add("xdpq_queue_bytes", "gauge", "bytes held in a queue (summed over an array)",
            {**d, "queue": q}, v["bytes"])
    add("xdpq_backlog_packets", "gauge", "packets queued in the scheduler", d, s["backlog"])
    add("xdpq_staged_packets", "gauge", "packets staged for the transmitter", d,
        s["staged"])
    add("xdpq_slots_in_use", "gauge", "slots of the frame pool in use", d,
        s["slots"]["in_use"])
    add("xdpq_bql_limit_bytes", "gauge", "BQL limit", d, s["bql"]["limit"])
    add("xdpq_bql_inflight_bytes", "gauge", "bytes handed to the device, not completed",
        d, s["bql"]["inflight"])
    add("xdpq_rate_bps", "gauge", "the link rate the scheduler releases at (0: none)", d,
        s["rate"]["rate_bps"])
    add("xdpq_backlog_bytes", "gauge", "bytes queued in the scheduler", d,
        s["rate"]["backlog_bytes"])
    for cause, n in s["stops"].items():
        add("xdpq_scheduler_stops_total", "counter",
            "scheduler runs that stopped, by cause (empty, eligibility, rate, bql)",
            {**d, "cause": cause}, n)
    for limit in ("none", *(c for c in s["stops"] if c != "empty")):
        add("xdpq_binding", "gauge", "1 for what limits the scheduler now (the cause of "
            "its last stop; none: it ran out of packets)", {**d, "limit": limit},
            int(s["binding"] == limit))
    t = s["transmitter"]
    add("xdpq_tx_runs_total", "counter", "transmit program runs", d, t["runs"])
    add("xdpq_tx_batches_total", "counter", "transmitter BPF_PROG_RUN calls", d,
        t["batches"])
    add("xdpq_timer_fires_total", "counter", "scheduler timer callbacks", d,
        t["timer_fires"])
    add("xdpq_cut_through_total", "counter", "frames arrivals sent in their own place", d,
        t["cut_through"])
    add("xdpq_egress_refusing", "gauge", "1 while the egress refuses frames", d,
        1 if s["egress_state"]["refusing"] else 0)
