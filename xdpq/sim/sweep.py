"""Parameter sweeps: one scenario run at every point of a grid of values.

This is the one sweep engine: ``xdpq sweep`` and a scenario's ``[sweep]``
table (``xdpq sim``) both run here. A plan has one or more axes, each a key
and its values; the points are the cartesian product of the axes. The
command line gives an axis as ``KEY=V1,V2,...``; a scenario's ``[sweep]`` is
one more axis (``key``, ``values``), unless the command line names its key.

A key is spelled as the path of what it changes in the scenario file
(:data:`SCENARIO_KEYS`): ``duration``, ``link.rate``, ``workload[0].load``,
``tcp[0].rtt``, ``scheduler.file``, ``scheduler.params.quantum``,
``scheduler.params.weight[1]``. A bare parameter name (``quantum``,
``weight[1]``) is short for ``scheduler.params.NAME``, and ``workload.0.load``
for ``workload[0].load`` (``tcp.0.rtt`` for ``tcp[0].rtt``);
:func:`sweep_key` gives the one spelling, which is what the outputs show.
Values are TOML values (the command line's texts are read as TOML would:
``0.6`` a number, ``10Mbit`` a string); a parameter's are checked as
``xdpq set`` checks them.

Every point is checked before any runs, and is a complete scenario: it runs
with the scenario's seed (so points differ only by the swept values; sweep
``seed`` for replications), here, in a process pool or on a Dask cluster, and
gives the same results however many run at once. Out come one directory per
point (what ``xdpq sim`` writes) and ``sweep.json``, ``sweep.csv`` (a row per
point) and ``sweep.png`` (one metric against the first axis that has more than
one value).
"""

from __future__ import annotations

import copy
import csv
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xdpq import ir
from xdpq.codegen.python import load_scheduler
from xdpq.dsl import load
from xdpq.errors import XdpqError
from xdpq.ir.params import format_values, parse_assignments, resolve_params
from xdpq.sim.scenario import (
    LINK_KEYS,
    Scenario,
    ScenarioError,
    param_text,
    parse_scenario,
    run_scenario,
)
from xdpq.units import UnitError, quantity

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_TOP = ("duration", "drain", "seed")
SCENARIO_KEYS = (*_TOP, *(f"link.{k}" for k in LINK_KEYS), "scheduler.file",
                 "scheduler.params.NAME", "workload[I].KEY", "tcp[I].KEY")
PARAMS = "scheduler.params."
_TABLE_KEYS = {"link": LINK_KEYS, "scheduler": ("file",)}
_INDEX = r"(?:\[(\d+)\]|\.(\d+))"  # [I], or .I as a dotted path has it
_WORKLOAD = re.compile(rf"(workload|tcp){_INDEX}\.([A-Za-z_]\w*)")  # or a [[tcp]] table
_PARAM = re.compile(rf"scheduler\.params\.([A-Za-z_]\w*){_INDEX}?")
_BARE_PARAM = re.compile(r"(?!(?:workload|tcp)\[)([A-Za-z_]\w*)(?:\[(\d+)\])?")  # not those
METRICS = (
    "latency_p99_ns",
    "latency_p50_ns",
    "latency_p999_ns",
    "throughput_bps",
    "jain_index",
    "drops",
    "fct_mean_ns",
    "goodput_bps",
    "tcp_jain_index",
)
SHARE_COLUMNS_UP_TO = 16  # flows; beyond that sweep.csv leaves the shares to sweep.json
DASK_HINT = "pip install 'dask[distributed]' (or pip install 'xdpq[sweep]')"
DASK_POLL_S = 2.0
DASK_NO_WORKERS_S = 60.0


class SweepError(XdpqError):
    """A sweep that cannot run as asked: a bad axis, a bad value, a failed point."""


@dataclass(frozen=True)
class Axis:
    name: str  # the one spelling: "scheduler.params.weight[1]", "link.rate", "workload[0].load"
    values: tuple[Any, ...]  # TOML values
    origin: str  # where it was given, for messages: "--param weight[1]", "s.toml: sweep"

    @property
    def param(self) -> bool:
        """A parameter of the scheduler (else a key of the scenario)."""
        return self.name.startswith(PARAMS)

    @property
    def short(self) -> str:
        """The name without ``scheduler.params.``: what ``xdpq set`` calls a parameter."""
        return self.name.removeprefix(PARAMS)

    def describe(self, value: Any) -> str:
        return f"{self.name}={value}"


@dataclass(frozen=True)
class Point:
    index: int
    label: str  # its directory
    values: dict[str, Any]  # axis name -> value
    data: dict[str, Any] = field(repr=False)  # the scenario's TOML with the values in


@dataclass(frozen=True)
class Task:
    """What a worker needs for one point (plain data: it crosses process and
    machine boundaries)."""

    point: Point
    scenario_path: str
    out_dir: str
    plots: bool
    flow: int | None
    progress: bool | None = False  # a progress bar on a long run (when it runs here)
    fast: bool = False  # in C where it can (xdpq.sim.fast)


# --- axes ---------------------------------------------------------------------------------------


def sweep_key(text: str) -> str | None:
    """The one spelling of the key ``text`` names, or None when it names none that
    can be swept (a parameter's name is checked against the scheduler later)."""
    if text in _TOP:
        return text
    table, _, key = text.partition(".")
    if key in _TABLE_KEYS.get(table, ()):
        return text
    if m := _WORKLOAD.fullmatch(text):
        return f"{m[1]}[{m[2] or m[3]}].{m[4]}"
    if m := _PARAM.fullmatch(text) or _BARE_PARAM.fullmatch(text):
        name, *index = filter(None, m.groups())
        return PARAMS + name + "".join(f"[{i}]" for i in index)
    return None


def _toml_value(text: str) -> Any:
    """A command-line value as TOML would have it: a whole number, a number, a truth
    value, or a string (quantities with units stay strings, as in scenario files)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text, text)


def _axis(given: str, values: Sequence[Any], origin: str, what: str) -> Axis:
    """An axis of the key ``given`` with ``values``; ``what`` says where, for messages."""
    name = sweep_key(given)
    if name is None:
        raise SweepError(
            f"{what}: '{given}' is not a scenario key that can be swept; those are "
            f"{', '.join(SCENARIO_KEYS)} (or a parameter's bare name: quantum, weight[1])"
        )
    if any(v in values[:i] for i, v in enumerate(values)):
        raise SweepError(f"{what}: a value is given twice")
    return Axis(name, tuple(values), origin)


def parse_axis(text: str) -> Axis:
    """``NAME=V1,V2,...`` from the command line."""
    given, eq, rhs = text.partition("=")
    given = given.strip()
    if not eq or not given:
        raise SweepError(
            f"--param {text!r}: write NAME=V1,V2,..., e.g. quantum=1514B,3028B "
            "or link.rate=10Mbit,100Mbit"
        )
    values = tuple(v.strip() for v in rhs.split(","))
    if not rhs.strip() or "" in values:
        raise SweepError(
            f"--param {text!r}: give one or more values separated by commas, e.g. {given}=1,2,4"
        )
    return _axis(given, [_toml_value(v) for v in values], f"--param {given}", f"--param {text!r}")


def axes_of(scenario: Scenario, given: Sequence[str]) -> list[Axis]:
    """The command line's axes, then the scenario's own ``[sweep]`` (unless one of
    them names its key)."""
    axes = [parse_axis(t) for t in given]
    names = [a.name for a in axes]
    for axis in axes:
        if names.count(axis.name) > 1:
            raise SweepError(
                f"{axis.origin} is given twice: give all its values in one, "
                f"{axis.origin.removeprefix('--param ')}=V1,V2,..."
            )
    sweep = scenario.sweep
    if sweep is not None:
        where = f"{scenario.path}: sweep"
        axis = _axis(sweep.key, sweep.values, where, where)
        if axis.name not in names:
            axes.append(axis)
    if not axes:
        raise SweepError(
            f"nothing to sweep: give --param NAME=V1,V2,... ({scenario.path} has no [sweep] table)"
        )
    return axes


# --- points -------------------------------------------------------------------------------------


@cache
def _program(path: Path) -> ir.Program:
    return load(path)


def _assign(data: dict[str, Any], axis: Axis, value: Any) -> None:
    """Write a scenario key's value into the TOML ``data``."""
    if m := _WORKLOAD.fullmatch(axis.name):
        index, tables = int(m[2] or m[3]), data.get(m[1], [])
        tables = [tables] if isinstance(tables, dict) else tables
        if index >= len(tables):
            noun = "workloads" if m[1] == "workload" else "[[tcp]] tables"
            have = f"{noun} 0..{len(tables) - 1}" if tables else f"no [[{m[1]}]] table"
            raise SweepError(f"{axis.origin}: the scenario has {have}")
        tables[index][m[4]] = value
    elif axis.name in _TOP:
        data[axis.name] = value
    else:
        table, _, key = axis.name.partition(".")
        data.setdefault(table, {})[key] = value


def _unknown_param(axis: Axis, prog: ir.Program) -> SweepError:
    params = (
        ", ".join(p.name + (f"[0..{p.count - 1}]" if p.count else "") for p in prog.params)
        or "none"
    )
    return SweepError(
        f"{axis.origin}: neither a parameter of the scheduler "
        f"'{prog.name}' (its parameters: {params}) nor a scenario key "
        f"({', '.join(SCENARIO_KEYS)})"
    )


def _check(data: dict[str, Any], base: Scenario, where: str) -> Scenario:
    try:
        return parse_scenario(data, base.path)
    except ScenarioError as exc:
        raise SweepError(f"{exc} (at the point {where})") from None


def value_text(value: Any) -> str:
    """A value as labels and plots show it (a scheduler file by its name)."""
    if isinstance(value, str) and value.endswith(".xdpq"):
        return Path(value).stem
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _label(index: int, width: int, axes: Sequence[Axis], combo: Sequence[Any]) -> str:
    """A point's directory: its number, then each axis's short name and value."""
    parts = (
        re.sub(r"[^A-Za-z0-9_.,+=-]+", "", f"{a.short}={value_text(v)}".replace(":", "-"))
        for a, v in zip(axes, combo, strict=True)
    )
    return f"{index:0{width}d}-" + "-".join(parts)[:80]


def plan(scenario: Scenario, axes: Sequence[Axis]) -> list[Point]:
    """Every point of the grid, each a checked scenario (names, units and ranges of
    the scheduler's parameters too): no point starts unless all can."""
    combos = list(itertools.product(*(a.values for a in axes)))
    width = len(str(len(combos) - 1))
    points = []
    for index, combo in enumerate(combos):
        pairs = list(zip(axes, combo, strict=True))
        where = ", ".join(a.describe(v) for a, v in pairs)
        data = copy.deepcopy(scenario.data)
        data.pop("sweep", None)
        for axis, value in pairs:
            if not axis.param:
                _assign(data, axis, value)
        point = _check(data, scenario, where)
        prog = _program(point.scheduler)
        params: dict[str, int | list[int]] = dict(point.params)
        for axis, value in pairs:
            if axis.param:
                if axis.short.partition("[")[0] not in {p.name for p in prog.params}:
                    raise _unknown_param(axis, prog)
                try:
                    params.update(
                        parse_assignments(prog, [f"{axis.short}={param_text(value)}"], params)
                    )
                except XdpqError as exc:
                    raise SweepError(f"{axis.origin}: {exc}") from None
        if params != point.params:  # written back as a scenario file writes them: with units
            data.setdefault("scheduler", {})["params"] = format_values(prog, params)
            point = _check(data, scenario, where)
        try:
            resolve_params(prog, point.params)
        except XdpqError as exc:
            raise SweepError(f"{exc} (at the point {where})") from None
        values = {a.name: v for a, v in pairs}
        points.append(Point(index, _label(index, width, axes, combo), values, data))
    return points


# --- running ------------------------------------------------------------------------------------


def run_point(task: Task) -> dict[str, Any]:
    """Run one point into its directory and return its row (a worker's whole job)."""
    point = task.point
    try:
        scenario = parse_scenario(point.data, task.scenario_path)
        out = run_scenario(
            scenario,
            Path(task.out_dir) / point.label,
            load_scheduler,
            progress=task.progress,
            plots=task.plots,
            label=point.label,
            fast=task.fast,
        )
    except XdpqError as exc:  # as a plain message: it must cross a process boundary
        raise SweepError(f"point {point.label}: {exc}") from None
    doc = json.loads((out.out_dir / "summary.json").read_text())
    return _row(point, doc, task.flow)


def _row(point: Point, doc: dict[str, Any], flow: int | None) -> dict[str, Any]:
    lat = doc
    if flow is not None:
        lat = next((f for f in doc["flows"] if f["flow"] == flow), None)
        if lat is None:
            raise SweepError(
                f"point {point.label}: no flow {flow} (its flows: "
                f"{', '.join(str(f['flow']) for f in doc['flows'][:20])})"
            )
    classes = [c for c in doc["fct"] if c["flows"]]
    completed = sum(c["flows"] for c in classes)
    return {
        "point": point.index,
        "label": point.label,
        "values": point.values,
        "throughput_bps": doc["throughput_bps"],
        "jain_index": doc["jain_index"],
        "shares": {str(f["flow"]): f["share"] for f in doc["flows"]},
        "latency_of_flow": flow,
        "latency_p50_ns": lat["latency_p50_ns"],
        "latency_p99_ns": lat["latency_p99_ns"],
        "latency_p999_ns": lat["latency_p999_ns"],
        "drops": sum(n for k, n in doc["outcomes"].items() if k.startswith("drop")),
        "outcomes": doc["outcomes"],
        "flows_completed": completed,
        "fct_mean_ns": round(sum(c["fct_mean_ns"] * c["flows"] for c in classes) / completed)
        if completed
        else 0,
        "goodput_bps": doc["tcp"]["goodput_bps"] if "tcp" in doc else 0.0,
        "tcp_jain_index": doc["tcp"]["jain_index"] if "tcp" in doc else 1.0,
    }


def _pool(tasks: list[Task], jobs: int) -> Iterator[dict[str, Any]]:
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_point, t) for t in tasks]
        try:
            for f in as_completed(futures):
                yield f.result()
        finally:
            for f in futures:
                f.cancel()


def _dask(tasks: list[Task], address: str) -> Iterator[dict[str, Any]]:
    """The points on a Dask cluster. A worker that dies mid-point is the scheduler's to
    retry elsewhere (``distributed.scheduler.allowed-failures``); a point that still
    fails, or a cluster left without workers for ``DASK_NO_WORKERS_S``, stops the sweep
    with the points it names: none goes missing."""
    try:
        from dask.distributed import Client, wait
    except ImportError:
        raise SweepError(
            f"--dask needs dask.distributed, which is not installed: {DASK_HINT}; "
            "or leave out --dask to run on this machine"
        ) from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise SweepError(f"--dask {address}: cannot reach the scheduler: {exc}") from None
    with client:
        futures = client.map(run_point, tasks, pure=False)
        labels = {f.key: t.point.label for f, t in zip(futures, tasks, strict=True)}
        pending, alone_since = set(futures), None
        while pending:
            try:
                done, pending = wait(pending, timeout=DASK_POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            for f in sorted(done, key=lambda f: labels[f.key]):
                yield _dask_result(f, labels[f.key], address)
            if done or client.scheduler_info().get("workers"):
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > DASK_NO_WORKERS_S:
                left = ", ".join(sorted(labels[f.key] for f in pending))
                raise SweepError(f"--dask {address}: the cluster has had no worker for "
                                 f"{DASK_NO_WORKERS_S:.0f} s; points not run: {left}")


def _dask_result(future: Any, label: str, address: str) -> dict[str, Any]:
    try:
        return future.result()
    except SweepError:
        raise
    except Exception as exc:  # KilledWorker, a lost connection: whatever Dask says
        raise SweepError(f"--dask {address}: point {label} did not run: "
                         f"{type(exc).__name__}: {exc}") from None


@dataclass
class SweepResult:
    axes: list[Axis]
    rows: list[dict[str, Any]]  # in point order
    files: list[Path]


def run_sweep(
    scenario: Scenario,
    axes: Sequence[Axis],
    out_dir: str | os.PathLike[str],
    *,
    jobs: int = 1,
    dask: str | None = None,
    plots: bool = True,
    metric: str = METRICS[0],
    flow: int | None = None,
    progress: bool | None = False,
    done: Callable[[dict[str, Any], int, int], None] | None = None,
    fast: bool = False,
) -> SweepResult:
    """Plan, run every point (one after the other in this process with ``jobs=1``,
    ``jobs`` at a time in a process pool, or on the Dask scheduler at ``dask``), and
    write sweep.json, sweep.csv and (with ``plots``) sweep.png. ``progress`` is as
    :func:`~xdpq.sim.scenario.run_scenario` has it, for points run in this process.
    ``done(row, finished, total)`` hears of each point as it finishes. ``fast`` runs the
    points in C where it can (:mod:`xdpq.sim.fast`)."""
    if metric not in METRICS:
        raise SweepError(f"no metric '{metric}': choose one of {', '.join(METRICS)}")
    if jobs < 1:
        raise SweepError(f"--jobs {jobs}: give at least 1")
    points = plan(scenario, axes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if flow is None and scenario.sweep is not None:
        flow = scenario.sweep.flow
    here = jobs == 1 and not dask
    tasks = [
        Task(p, str(scenario.path.resolve()), str(out.resolve()), plots, flow, here and progress,
             fast)
        for p in points
    ]
    rows: list[dict[str, Any]] = []
    finished = _dask(tasks, dask) if dask else map(run_point, tasks) if here else _pool(tasks, jobs)
    for row in finished:
        rows.append(row)
        if done is not None:
            done(row, len(rows), len(tasks))
    rows.sort(key=lambda r: r["point"])
    if [r["point"] for r in rows] != [p.index for p in points]:  # each once, none missing
        raise SweepError(f"the sweep ended with points {[r['point'] for r in rows]} of "
                         f"{len(points)}: nothing written")
    files = [
        write_json(scenario, axes, rows, metric, out / "sweep.json"),
        write_csv(axes, rows, out / "sweep.csv"),
    ]
    if plots:
        files.append(plot(axes, rows, metric, out / "sweep.png", title=scenario.name))
        if scenario.tcp:
            files.append(plot_timelines(rows, out, out / "timeline.png", title=scenario.name))
    return SweepResult(list(axes), rows, files)


# --- outputs ------------------------------------------------------------------------------------


def write_json(
    scenario: Scenario, axes: Sequence[Axis], rows: list[dict[str, Any]], metric: str, path: Path
) -> Path:
    doc = {
        "scenario": scenario.name,
        "file": str(scenario.path),
        "seed": scenario.seed,
        "axes": [
            {
                "name": a.name,
                "values": list(a.values),
                "kind": "parameter" if a.param else "scenario",
            }
            for a in axes
        ],
        "metric": metric,
        "points": rows,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def write_csv(axes: Sequence[Axis], rows: list[dict[str, Any]], path: Path) -> Path:
    flows = sorted({int(f) for r in rows for f in r["shares"]})
    shares = [str(f) for f in flows] if len(flows) <= SHARE_COLUMNS_UP_TO else []
    metrics = [
        "throughput_bps",
        "jain_index",
        "latency_p50_ns",
        "latency_p99_ns",
        "latency_p999_ns",
        "drops",
        "flows_completed",
        "fct_mean_ns",
        "goodput_bps",
        "tcp_jain_index",
    ]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "point",
                "label",
                *(a.name for a in axes),
                *metrics,
                *(f"share_flow{s}" for s in shares),
            ]
        )
        for r in rows:
            w.writerow(
                [
                    r["point"],
                    r["label"],
                    *(r["values"][a.name] for a in axes),
                    *(r[m] for m in metrics),
                    *(r["shares"].get(s, 0.0) for s in shares),
                ]
            )
    return path


def _number(value: Any) -> float | None:
    """A value as a number (a quantity in its canonical unit), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(quantity(str(value).replace(" ", "")).value)
    except UnitError:
        return None


_SCALE = {
    "latency_p99_ns": (1e3, "µs"),
    "latency_p50_ns": (1e3, "µs"),
    "latency_p999_ns": (1e3, "µs"),
    "fct_mean_ns": (1e6, "ms"),
    "throughput_bps": (1e6, "Mbit/s"),
    "goodput_bps": (1e6, "Mbit/s"),
}


def figure(axes: Sequence[Axis], rows: list[dict[str, Any]], metric: str, *, title: str) -> Figure:
    """``metric`` against the first axis with more than one value, one line for each
    combination of the other such axes (:func:`xdpq.sim.plots.sweep_figure` chooses
    the scales)."""
    from xdpq.sim.plots import sweep_figure

    first, *rest = [a for a in axes if len(a.values) > 1] or axes[:1]
    scale, unit = _SCALE.get(metric, (1.0, ""))
    lines: dict[str | None, list[float]] = {}
    for r in rows:
        name = ", ".join(a.describe(r["values"][a.name]) for a in rest) or None
        ys = lines.setdefault(name, [float("nan")] * len(first.values))
        ys[first.values.index(r["values"][first.name])] = r[metric] / scale
    numbers = [_number(v) for v in first.values]
    whose = rows[0]["latency_of_flow"] if rows and metric.startswith("latency") else None
    name = metric.removesuffix("_ns").removesuffix("_bps")
    name += "" if whose is None else f" of flow {whose}"
    return sweep_figure(
        [value_text(v) for v in first.values],
        None if None in numbers else [n for n in numbers if n is not None],
        lines,
        xlabel=first.name,
        ylabel=f"{name} ({unit})" if unit else name,
        title=f"{title}: {metric} against {first.name}",
    )


def plot(
    axes: Sequence[Axis], rows: list[dict[str, Any]], metric: str, path: Path, *, title: str
) -> Path:
    """:func:`figure`, as a PNG file."""
    figure(axes, rows, metric, title=title).savefig(path, format="png", dpi=100)
    return path


def plot_timelines(rows: list[dict[str, Any]], out: Path, path: Path, *, title: str) -> Path:
    """The points of a sweep with TCP flows one above the other: the latency of the
    other flows (the probes) and the goodput of the TCP flows over time, from each
    point's summary.json."""
    from xdpq.sim.plots import timelines_figure

    runs = [(r["label"], json.loads((out / r["label"] / "summary.json").read_text())["tcp"]
             ["timeline"]) for r in rows]
    timelines_figure(runs, title=f"{title}: latency of the other flows and TCP goodput"
                     ).savefig(path, format="png", dpi=100)
    return path


def describe(row: dict[str, Any]) -> str:
    """One line on a finished point."""
    tcp = (f", TCP {row['goodput_bps'] / 1e6:.2f} Mbit/s, Jain {row['tcp_jain_index']:.3f}"
           if row["goodput_bps"] else "")
    return (
        f"{row['label']}: p99 {row['latency_p99_ns'] / 1e3:.1f} us, "
        f"{row['throughput_bps'] / 1e6:.2f} Mbit/s, Jain {row['jain_index']:.3f}, "
        f"{row['drops']} drops{tcp}"
    )
