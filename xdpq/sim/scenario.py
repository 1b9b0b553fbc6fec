"""Scenario files: a workload, a link and a scheduler, as TOML; and running them.

A scenario (``sim/*.toml``) says everything a run needs, so that a run is a
pure function of the file (the seed included)::

    name = "prio-starvation"
    description = "..."          # optional
    duration = "200ms"           # arrivals are generated over [0, duration)
    drain = "1s"                 # optional, default 0: how long the run goes on after
                                 # the arrivals end (to let queues empty, for FCT)
    seed = 1                     # every workload derives its own seed from this

    [link]
    rate = "100Mbit"             # the device's line rate: it serializes frames at this
    propagation = "10us"         # optional, default 0
    bql = "fixed:3000"           # adaptive (default; off with shape), off, or fixed:BYTES
    shape = "90Mbit"             # optional: xdpq's own link rate (xdpq deploy --rate);
    burst = "1ms"                # its burst: a time, or a size at that rate (default 1ms)
    overhead = 24                # bytes it counts per frame beyond the frame (default 0)
    latency = "50ms"             # bound the queues to this long at that rate (default none)

    [scheduler]
    file = "schedulers/prio.xdpq"  # relative to this file, or to a directory above it
    params = { high_from = 40 }    # optional; numbers, or strings with units ("10Mbit")

    [[workload]]                 # open-loop traffic (a scenario has workloads, TCP
    kind = "constant"            # flows, or both): constant, poisson, onoff, incast,
    ...                          # flows, pcap

    [[tcp]]                      # closed-loop TCP flows (xdpq.sim.tcp), numbered after
    flows = 4                    # the workloads' flows
    cc = "cubic"                 # cubic, newreno, dctcp
    rtt = "20ms"                 # the base round trip beside the link
    ...                          # TCP_KEYS has them all

    [sweep]                      # optional: one run per value of one key (a sweep of
    key = "link.bql"             # one axis: keys and outputs as in xdpq.sim.sweep)
    values = ["fixed:1514", "fixed:30000", "adaptive", "off"]
    flow = 1                     # optional: whose latency sweep.json shows

Quantities are integers in canonical units (ns, bytes, bit/s) or strings with
units as in the language (``"5ms"``, ``"64KiB"``, ``"10Mbit"``). The keys of
each workload kind are in ``WORKLOAD_KEYS``; every mistake is a
:class:`ScenarioError` naming the file and the key.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from xdpq import ir, units
from xdpq.dsl import load
from xdpq.errors import SourceError, XdpqError
from xdpq.ir.link import DEFAULT_BURST_NS, Bql, Shaper, ShaperError, burst_time, default_bql
from xdpq.ir.params import parse_assignments
from xdpq.sim import workload as wl
from xdpq.sim.metrics import (
    Summary,
    completions,
    fct_summary,
    summarize,
    tcp_summary,
    write_csv,
    write_tcp_csv,
)
from xdpq.sim.run import DROPPED, Arrival, Result, Simulation
from xdpq.sim.tcp import Cc, Ecn, TcpAgent, TcpSpec, frame_overhead
from xdpq.units import EXAMPLE, WORDS, Kind, UnitError

MakeScheduler = Callable[[Path, dict[str, Any]], Any]
UNBOUNDED_FLOWS = 1_000_000  # flow numbers left to a workload with no fixed number of flows
PROGRESS_AFTER_S = 2.0


class ScenarioError(XdpqError):
    """A mistake in a scenario file: the file, the key, what is wrong."""

    def __init__(self, file: str | os.PathLike[str], key: str, message: str) -> None:
        self.file, self.key, self.message = os.fspath(file), key, message
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {message}")


_REQUIRED = object()


class _Table:
    """One TOML table being read: typed getters, and unknown keys refused."""

    def __init__(self, file: Path, prefix: str, data: Any) -> None:
        self.file, self.prefix = file, prefix
        if not isinstance(data, dict):
            raise ScenarioError(file, prefix, "expected a table")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, message: str) -> ScenarioError:
        return ScenarioError(self.file, self.key(name), message)

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, default: Any = _REQUIRED) -> Any:
        self.used.add(name)
        if name in self.data:
            return self.data[name]
        if default is _REQUIRED:
            raise ScenarioError(self.file, self.key(name), "missing (it is required)")
        return default

    def string(self, name: str, default: Any = _REQUIRED) -> str:
        v = self.get(name, default)
        if not isinstance(v, str):
            raise self.error(name, f"expected a string, got {v!r}")
        return v

    def choice(self, name: str, options: Iterable[str], default: Any = _REQUIRED) -> str:
        v = self.string(name, default)
        options = tuple(options)
        if v not in options:
            raise self.error(name, f"'{v}' is not one of {', '.join(options)}")
        return v

    def integer(self, name: str, default: Any = _REQUIRED, low: int | None = None,
                high: int | None = None) -> int:
        v = self.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(name, f"expected a whole number, got {v!r}")
        self._bounds(name, v, low, high)
        return v

    def number(self, name: str, default: Any = _REQUIRED, low: float | None = None,
               high: float | None = None) -> float:
        v = self.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.error(name, f"expected a number, got {v!r}")
        self._bounds(name, v, low, high)
        return float(v)

    def boolean(self, name: str, default: Any = _REQUIRED) -> bool:
        v = self.get(name, default)
        if not isinstance(v, bool):
            raise self.error(name, f"expected true or false, got {v!r}")
        return v

    def quantity(self, name: str, kind: Kind, default: Any = _REQUIRED, low: int | None = None,
                 high: int | None = None) -> int:
        v = self.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise self.error(name, f"expected {WORDS[kind]} (e.g. '{EXAMPLE[kind]}'), got {v!r}")
        if isinstance(v, str):
            try:
                v = units.value(v.replace(" ", ""), kind)
            except UnitError as exc:
                raise self.error(name, f"{exc}{f' ({exc.hint})' if exc.hint else ''}") from None
        self._bounds(name, v, low, high)
        return v

    def table(self, name: str, default: Any = _REQUIRED) -> _Table:
        return _Table(self.file, self.key(name), self.get(name, default))

    def _bounds(self, name: str, v: float, low: float | None, high: float | None) -> None:
        if low is not None and v < low:
            raise self.error(name, f"{v} is below the least allowed, {low}")
        if high is not None and v > high:
            raise self.error(name, f"{v} is above the most allowed, {high}")

    def done(self, allowed: str = "") -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            allowed = allowed or ", ".join(sorted(self.used)) or "none"
            raise ScenarioError(self.file, self.key(extra[0]),
                                f"unknown key (this table takes: {allowed})")


# --- the parsed form ---------------------------------------------------------------------------


LINK_KEYS = ("rate", "propagation", "bql", "shape", "burst", "overhead", "latency")


@dataclass(frozen=True)
class LinkSpec:
    rate_bps: int
    propagation_ns: int = 0
    bql: Bql = field(default_factory=Bql)
    shaper: Shaper = field(default_factory=Shaper)


@dataclass(frozen=True)
class WorkloadSpec:
    kind: str
    index: int  # position in the file: workload[index]
    first_flow: int
    seed: int
    weight: float  # of each of its flows, for Jain's index over throughput / weight
    options: dict[str, Any]  # the generator's arguments, in canonical units


@dataclass(frozen=True)
class Sweep:
    key: str
    values: tuple[Any, ...]
    flow: int | None = None  # whose latency the comparison shows (None: every packet's)


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    description: str
    duration_ns: int
    drain_ns: int
    seed: int
    link: LinkSpec
    scheduler: Path
    params: dict[str, int | list[int]]
    workloads: tuple[WorkloadSpec, ...]
    sweep: Sweep | None = None
    tcp: tuple[TcpSpec, ...] = ()  # closed-loop flows, after the workloads' flows
    data: dict[str, Any] = field(default_factory=dict, repr=False)  # the TOML, for sweeps


WORKLOAD_KEYS = {
    "constant": "rate | pps, size, flow, dscp, ip, start, stop, weight",
    "poisson": "rate | pps, size, sizes (fixed | exponential), flow, dscp, ip, start, stop, "
               "seed, weight",
    "onoff": "rate | pps, size, on, off, periods (exponential | fixed), flows, first_flow, "
             "dscp, ip, start, stop, seed, weight",
    "incast": "senders, burst, period, mtu, access_rate, jitter, first_flow, dscp, ip, start, "
              "stop, seed, weight",
    "flows": "cdf (websearch | datamining | a file), load, mtu, access_rate, count, "
             "first_flow, dscp, ip, start, stop, seed, weight",
    "pcap": "file, speed, first_flow, start, stop, weight",
}


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and check a scenario file; every mistake is a :class:`ScenarioError`."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(path, "", f"cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "", f"not valid TOML: {exc}") from None
    return parse_scenario(data, path)


def parse_scenario(data: dict[str, Any], path: str | os.PathLike[str]) -> Scenario:
    """Check the TOML ``data`` of a scenario file found at ``path`` (for relative paths
    and for messages)."""
    path = Path(path)
    top = _Table(path, "", data)
    name = top.string("name", path.stem)
    description = top.string("description", "")
    duration = top.quantity("duration", Kind.TIME, low=1)
    drain = top.quantity("drain", Kind.TIME, 0, low=0)
    seed = top.integer("seed", 1, low=0)

    lt = top.table("link")
    rate = lt.quantity("rate", Kind.RATE, low=1000)
    shaper = _shaper(lt)
    link = LinkSpec(rate, lt.quantity("propagation", Kind.TIME, 0, low=0),
                    _bql(lt, "bql", default_bql(shaper)), shaper)
    lt.done(", ".join(LINK_KEYS))

    st = top.table("scheduler")
    sched_file = _find(st, "file", path)
    pt = st.table("params", {})
    params = _params(pt, load(sched_file))
    pt.done()
    st.done()

    raw_workloads, raw_tcp = _tables(top, "workload"), _tables(top, "tcp")
    if not raw_workloads and not raw_tcp:
        raise ScenarioError(path, "workload", "expected one or more [[workload]] or [[tcp]] "
                                              "tables")
    workloads = []
    next_flow = 0
    for i, raw in enumerate(raw_workloads):
        spec, n_flows = _workload(_Table(path, f"workload[{i}]", raw), i, seed, next_flow,
                                  duration, link, path)
        workloads.append(spec)
        next_flow = spec.first_flow + n_flows
    tcp: list[TcpSpec] = []
    for i, raw in enumerate(raw_tcp):
        flows = _tcp(_Table(path, f"tcp[{i}]", raw), next_flow, duration, seed)
        tcp.extend(flows)
        next_flow = flows[-1].flow + 1

    sweep = None  # its key and values are checked where it runs (xdpq.sim.sweep.plan)
    if top.has("sweep"):
        sw = top.table("sweep")
        key = sw.string("key")
        values = sw.get("values")
        if not isinstance(values, list) or not values:
            raise sw.error("values", "expected a list of one or more values")
        flow = sw.integer("flow", -1, low=0) if sw.has("flow") else None
        sw.done()
        sweep = Sweep(key, tuple(values), flow)
    top.done()
    return Scenario(path, name, description, duration, drain, seed, link, sched_file, params,
                    tuple(workloads), sweep, tuple(tcp), copy.deepcopy(data))


def _tables(top: _Table, name: str) -> list[Any]:
    """An array of tables (``[[name]]``), or none."""
    raw = top.get(name, [])
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list):
        raise top.error(name, f"expected [[{name}]] tables")
    return raw


TCP_KEYS = ("flows, first_flow, cc (cubic | newreno | dctcp), rtt, start, stagger, size, stop, "
            "ecn (off | classic | l4s), mss, rwnd, rwnd_init, init_cwnd, min_rto, delack, "
            "hystart, jitter, dscp, ip, weight")


def _tcp(t: _Table, next_flow: int, duration: int, seed: int) -> list[TcpSpec]:
    """``[[tcp]]``: one or more identical TCP flows (``xdpq.sim.tcp``), the first at
    ``start``, each further one ``stagger`` later."""
    n = t.integer("flows", 1, low=1, high=UNBOUNDED_FLOWS)
    first = t.integer("first_flow", next_flow, low=0)
    start = t.quantity("start", Kind.TIME, 0, low=0)
    stagger = t.quantity("stagger", Kind.TIME, 0, low=0)
    stop = t.quantity("stop", Kind.TIME, duration, low=0)
    if stop > duration:
        raise t.error("stop", "is after the scenario's duration")
    ip = t.integer("ip", 4)
    if ip not in (4, 6):
        raise t.error("ip", "expected 4 or 6")
    over = frame_overhead(ip)
    mss = t.quantity("mss", Kind.BYTES, wl.MTU_FRAME - over, low=wl.MIN_FRAME - over,
                     high=wl.MTU_FRAME - over)
    cc = Cc(t.choice("cc", [c.value for c in Cc], Cc.CUBIC.value))
    ecn = Ecn(t.choice("ecn", [e.value for e in Ecn], Ecn.OFF.value))
    rwnd_init = t.quantity("rwnd_init", Kind.BYTES, 0, low=0)
    if 0 < rwnd_init < mss:
        raise t.error("rwnd_init", f"is below the MSS ({mss} bytes); 0 turns autotuning off")
    spec = TcpSpec(
        flow=first, cc=cc, rtt_ns=t.quantity("rtt", Kind.TIME, low=0), start_ns=start,
        size=t.quantity("size", Kind.BYTES, 0, low=0), stop_ns=stop, mss=mss, ecn=ecn,
        rwnd=t.quantity("rwnd", Kind.BYTES, TcpSpec.rwnd, low=mss), rwnd_init=rwnd_init,
        init_cwnd=t.integer("init_cwnd", TcpSpec.init_cwnd, low=1, high=1000),
        min_rto_ns=t.quantity("min_rto", Kind.TIME, TcpSpec.min_rto_ns, low=1),
        delack_ns=t.quantity("delack", Kind.TIME, TcpSpec.delack_ns, low=0),
        hystart=t.boolean("hystart", True), dscp=t.integer("dscp", 0, 0, 63), ip=ip,
        weight=t.number("weight", 1.0, low=1e-9),
        jitter_ns=t.quantity("jitter", Kind.TIME, 0, low=0))
    t.done(TCP_KEYS)
    # Each flow's jitter has its own generator, seeded by the scenario's seed and its number.
    return [replace(spec, flow=first + i, start_ns=start + i * stagger,
                    seed=seed * 1_000_003 + first + i) for i in range(n)]


def _bql(t: _Table, name: str, default: Bql) -> Bql:
    text = t.string(name, str(default))
    try:
        return Bql.parse(text, option="")
    except XdpqError as exc:
        raise t.error(name, str(exc)) from None


def _shaper(t: _Table) -> Shaper:
    """xdpq's own link rate: ``shape`` (a rate), ``burst`` (a time, or a size at that
    rate), ``overhead`` (bytes per frame) and ``latency`` (a time), as the flags of
    ``xdpq deploy`` (``--rate``, ``--burst``, ``--overhead``, ``--latency``) give them."""
    key = {"rate": "shape", "burst": "burst", "overhead": "overhead", "latency": "latency"}
    rate = t.quantity("shape", Kind.RATE, 0, low=0)
    for name in ("burst", "overhead", "latency"):
        if t.has(name) and not rate:
            raise t.error(name, "there is no rate to apply it to: give shape (e.g. '90Mbit')")
    burst = t.get("burst", DEFAULT_BURST_NS)
    try:
        if isinstance(burst, str):
            try:
                burst = burst_time(units.quantity(burst.replace(" ", "")), rate)
            except UnitError as exc:
                raise ShaperError("burst", str(exc)) from None
        elif isinstance(burst, bool) or not isinstance(burst, int):
            raise ShaperError("burst", f"expected a time (e.g. '1ms') or a size (e.g. "
                                       f"'12kb'), got {burst!r}")
        return Shaper(rate, burst, t.integer("overhead", 0),
                      t.quantity("latency", Kind.TIME, 0, low=0))
    except ShaperError as exc:
        raise t.error(key[exc.field], exc.message) from None


def _params(t: _Table, prog: ir.Program) -> dict[str, int | list[int]]:
    """The scheduler's parameters, checked as ``xdpq set`` checks them: names, units
    against each parameter's kind, ranges, table sizes."""
    out: dict[str, int | list[int]] = {}
    for name in list(t.data):
        v = t.get(name)
        items = v if isinstance(v, list) else [v]
        if not items or not all(isinstance(x, int | str) for x in items):
            raise t.error(name, "expected a whole number, a quantity with a unit "
                                f"(\"10Mbit\") or a list of them, got {v!r}")
        try:
            out.update(parse_assignments(prog, [f"{name}={param_text(v)}"]))
        except XdpqError as exc:
            raise t.error(name, str(exc)) from None
    return out


def param_text(value: Any) -> str:
    """A parameter's TOML value (a number, a quantity, or a list of them) as
    ``xdpq set`` takes it on the command line."""
    items = value if isinstance(value, list) else [value]
    return ",".join(str(x).lower() if isinstance(x, bool) else str(x) for x in items)


def _find(t: _Table, name: str, scenario: Path) -> Path:
    """A file named relative to the scenario's directory or to one above it (the
    repository root, for ``schedulers/...``), or absolute."""
    given = t.string(name)
    p = Path(given)
    if p.is_absolute():
        tried = [p]
    else:
        base = scenario.resolve().parent
        tried = [base / p, *(d / p for d in base.parents)]
    for cand in tried:
        if cand.is_file():
            return cand
    where = "" if p.is_absolute() else f" (looked in {tried[0].parent} and the directories above)"
    raise t.error(name, f"no file '{given}'{where}")


def _workload(t: _Table, index: int, seed: int, next_flow: int, duration: int,
              link: LinkSpec, path: Path) -> tuple[WorkloadSpec, int]:
    kind = t.choice("kind", WORKLOAD_KEYS)
    o: dict[str, Any] = {}
    start = t.quantity("start", Kind.TIME, 0, low=0)
    stop = t.quantity("stop", Kind.TIME, duration, low=0)
    if stop > duration:
        raise t.error("stop", "is after the scenario's duration")
    o.update(start_ns=start, until_ns=stop)
    weight = t.number("weight", 1.0, low=1e-9)
    random = kind in ("poisson", "onoff", "incast", "flows")
    wseed = t.integer("seed", seed * 1000 + index, low=0) if random else 0
    if kind != "pcap":
        o["dscp"] = t.integer("dscp", 0, 0, 63)
        o["ip"] = t.integer("ip", 6 if kind == "flows" else 4)
        if o["ip"] not in (4, 6):
            raise t.error("ip", "expected 4 or 6")

    def pps(size: int) -> float:
        if t.has("rate") == t.has("pps"):
            raise t.error("rate", "give either rate (e.g. '10Mbit') or pps (packets per second)")
        if t.has("rate"):
            return t.quantity("rate", Kind.RATE, low=1) / (8 * size)
        return t.number("pps", low=1e-9)

    n_flows = UNBOUNDED_FLOWS
    if kind in ("constant", "poisson"):
        first = t.integer("flow", next_flow, low=0)
        n_flows = 1
        size = t.quantity("size", Kind.BYTES, low=1)
        o.update(flow=first, rate_pps=pps(size))
        if kind == "constant":
            o.update(size=size, count=None)
        else:
            sizes = t.choice("sizes", ("fixed", "exponential"), "fixed")
            o.update(mean_size=size, count=None, exponential_sizes=sizes == "exponential")
    elif kind == "onoff":
        first = t.integer("first_flow", next_flow, low=0)
        n_flows = t.integer("flows", 1, low=1)
        size = t.quantity("size", Kind.BYTES, low=1)
        o.update(first_flow=first, flows=n_flows, size=size, rate_pps=pps(size),
                 on_ns=t.quantity("on", Kind.TIME, low=1), off_ns=t.quantity("off", Kind.TIME,
                                                                                low=0),
                 exponential=t.choice("periods", ("exponential", "fixed"), "exponential")
                 == "exponential")
    elif kind == "incast":
        first = t.integer("first_flow", next_flow, low=0)
        o.update(first_flow=first, senders=t.integer("senders", low=1),
                 burst_bytes=t.quantity("burst", Kind.BYTES, low=1),
                 period_ns=t.quantity("period", Kind.TIME, low=1),
                 mtu=t.quantity("mtu", Kind.BYTES, wl.MTU_FRAME, low=wl.MIN_FRAME),
                 access_rate_bps=t.quantity("access_rate", Kind.RATE, link.rate_bps, low=1),
                 jitter_ns=t.quantity("jitter", Kind.TIME, 0, low=0))
    elif kind == "flows":
        first = t.integer("first_flow", next_flow, low=0)
        cdf_name = t.string("cdf")
        try:
            cdf = wl.load_cdf(cdf_name if cdf_name in wl.BUILTIN_CDFS
                              else _find(t, "cdf", path))
        except XdpqError as exc:
            raise t.error("cdf", str(exc)) from None
        count = t.integer("count", 0, low=0)
        o.update(first_flow=first, cdf=cdf, load=t.number("load", low=1e-6, high=100),
                 link_rate_bps=link.rate_bps,
                 access_rate_bps=t.quantity("access_rate", Kind.RATE, link.rate_bps, low=1),
                 mtu=t.quantity("mtu", Kind.BYTES, wl.MTU_FRAME, low=wl.MIN_FRAME),
                 flows=count or None)
    else:  # pcap
        first = t.integer("first_flow", next_flow, low=0)
        o.update(path=_find(t, "file", path), first_flow=first,
                 speed=t.number("speed", 1.0, low=1e-9))
    t.done(f"kind, {WORKLOAD_KEYS[kind]}")
    return WorkloadSpec(kind, index, first, wseed, weight, o), n_flows


# --- running -----------------------------------------------------------------------------------


@dataclass
class Tags:
    """What the workloads said about their flows, collected as packets go by."""

    flow_sizes: dict[int, int] = field(default_factory=dict)
    weights: dict[int, float] = field(default_factory=dict)


def _generator(spec: WorkloadSpec) -> Iterator[Arrival]:
    o = dict(spec.options)
    match spec.kind:
        case "constant":
            return wl.constant(**o)
        case "poisson":
            return wl.poisson(seed=spec.seed, **o)
        case "onoff":
            return wl.on_off(seed=spec.seed, **o)
        case "incast":
            return wl.incast(seed=spec.seed, **o)
        case "flows":
            return wl.flow_sizes(seed=spec.seed, **o)
        case _:
            return wl.pcap(**o)


def _tagged(spec: WorkloadSpec, tags: Tags) -> Iterator[Arrival]:
    sizes, weights = tags.flow_sizes, tags.weights
    for a in _generator(spec):
        flow = a.packet.flow
        if flow not in weights:
            weights[flow] = spec.weight
            size = getattr(a.packet, "flow_size", 0)
            if size:
                sizes[flow] = size
        yield a


def arrivals(scenario: Scenario, tags: Tags | None = None) -> Iterator[Arrival]:
    """The scenario's arrivals, all workloads merged in time order."""
    tags = tags if tags is not None else Tags()
    return wl.merge(*(_tagged(spec, tags) for spec in scenario.workloads))


def _with_progress(stream: Iterator[Arrival], end_ns: int, label: str,
                   enabled: bool) -> Iterator[Arrival]:
    """The stream, with a progress bar over simulated time once the run has taken
    more than a few seconds of wall time."""
    if not enabled:
        yield from stream
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    started = time.monotonic()
    bar: Progress | None = None
    task = None
    try:
        for n, a in enumerate(stream):
            if n & 1023 == 0:
                if bar is None and time.monotonic() - started > PROGRESS_AFTER_S:
                    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                   TextColumn("{task.percentage:>3.0f}% of simulated time"),
                                   TimeElapsedColumn(), console=Console(stderr=True),
                                   transient=True)
                    bar.start()
                    task = bar.add_task(label or "simulating", total=end_ns)
                if bar is not None and task is not None:
                    bar.update(task, completed=min(a.time, end_ns))
            yield a
    finally:
        if bar is not None:
            bar.stop()


@dataclass
class RunOutput:
    label: str  # the sweep point's label; "" for a run of its own
    scenario: Scenario
    out_dir: Path
    summary: Summary
    result: Result
    files: list[Path]
    doc: dict[str, Any]  # what summary.json holds


def run_scenario(scenario: Scenario | str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 make_scheduler: MakeScheduler, *, progress: bool | None = None,
                 plots: bool = True, label: str = "", fast: bool = False) -> RunOutput:
    """Run one scenario (a file or a loaded one) into ``out_dir``: summary.json,
    records.csv and the plots. ``make_scheduler(path, params)`` returns a fresh
    scheduler for :class:`~xdpq.sim.run.Simulation`. The progress bar shows on
    long runs when stderr is a terminal, unless ``progress`` says. ``fast`` runs it
    in C where it can (:mod:`xdpq.sim.fast`: the same files). A scenario with
    a ``[sweep]`` is many runs: :func:`xdpq.sim.sweep.run_sweep` runs it."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if scenario.sweep is not None:
        raise ScenarioError(scenario.path, "sweep", "a scenario with a [sweep] is one run per "
                                                    "value: run it with xdpq.sim.sweep.run_sweep")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        sched = make_scheduler(scenario.scheduler, dict(scenario.params))
    except SourceError:
        raise
    except XdpqError as exc:
        raise ScenarioError(scenario.path, "scheduler", str(exc)) from None
    link = scenario.link
    sim = Simulation(sched, rate_bps=link.rate_bps, propagation_ns=link.propagation_ns,
                     bql=link.bql, shaper=link.shaper, fast=fast)
    tags = Tags()
    tags.weights.update((t.flow, t.weight) for t in scenario.tcp)
    show = sys.stderr.isatty() if progress is None else progress
    stream = _with_progress(arrivals(scenario, tags), scenario.duration_ns,
                            f"{scenario.name} {label}".strip(), show)
    until = scenario.duration_ns + scenario.drain_ns
    agent = TcpAgent(list(scenario.tcp)) if scenario.tcp else None
    result = sim.run(stream, until=until, closed=agent)
    # Throughput is over the time it took to deliver what arrived, not over the drain
    # allowance the run was given.
    last = max((r.departed for r in result.records), default=DROPPED)
    result = replace(result, duration_ns=max(scenario.duration_ns, last))
    weights = tags.weights if any(w != 1.0 for w in tags.weights.values()) else None
    dropped = dict(sched.dropped)
    summary = summarize(result, link.rate_bps, link.propagation_ns, weights, dropped,
                        sched.reasons, sched.marked, sched.marks)
    done = completions(result.records, link.rate_bps, link.propagation_ns, tags.flow_sizes)
    doc = {
        "scenario": {
            "name": scenario.name, "file": str(scenario.path), "variant": label,
            "scheduler": str(scenario.scheduler), "params": scenario.params,
            "link": {"rate_bps": link.rate_bps, "propagation_ns": link.propagation_ns,
                     "bql": {"mode": link.bql.mode.name.lower(), "limit": link.bql.limit},
                     "shape": {"rate_bps": link.shaper.rate, "burst_ns": link.shaper.burst_ns,
                               "overhead": link.shaper.overhead,
                               "latency_ns": link.shaper.latency_ns,
                               "limit_bytes": link.shaper.limit}},
            "duration_ns": scenario.duration_ns, "seed": scenario.seed,
        },
        **asdict(summary),
        "bql_limit_at_end": result.bql_limit,
        "flows_completed": len(done),
        "fct": fct_summary(done) if tags.flow_sizes else [],
    }
    files = [out / "summary.json", out / "records.csv"]
    stats = agent.stats(until) if agent is not None else []
    if stats:
        doc["tcp"] = tcp_summary(stats, result.records, until, weights)
        files.append(out / "tcp.csv")
        write_tcp_csv(stats, files[-1])
    files[0].write_text(json.dumps(doc, indent=2) + "\n")
    write_csv(result.records, files[1], dropped)
    if plots:
        from xdpq.sim.plots import plot_run

        files += plot_run(result.records, out, done=done, propagation_ns=link.propagation_ns,
                          end_ns=until, tcp=stats,
                          timeline=doc["tcp"]["timeline"] if stats else None)
    return RunOutput(label, scenario, out, summary, result, files, doc)
