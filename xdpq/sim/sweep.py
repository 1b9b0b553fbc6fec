"""Parameter sweeps: one scenario run at every point of a grid of values.

An axis is ``NAME=V1,V2,...``. ``NAME`` is either a parameter of the
scenario's scheduler (``quantum``, ``rate``, ``weight[1]``; values with units,
checked as ``xdpq set`` checks them) or a scenario key (:data:`SCENARIO_KEYS`:
``duration``, ``link.rate``, ``workload[0].load``, ...). The points are the
cartesian product of the axes, plus the scenario's own ``[sweep]`` table as
one more axis (unless an axis names its key). Every point is checked before
any runs, and is a complete scenario: it runs with the scenario's seed (so
points differ only by the swept values; sweep ``seed`` for replications), in
a process pool or on a Dask cluster, and gives the same results however many
run at once. Out come one directory per point (what ``xdpq sim`` writes) and
``sweep.json``, ``sweep.csv`` (a row per point) and ``sweep.png`` (one metric
against the first axis that has more than one value).
"""

from __future__ import annotations

import copy
import csv
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from xdpq import ir
from xdpq.codegen.python import load_scheduler
from xdpq.dsl import load
from xdpq.errors import XdpqError
from xdpq.ir.params import parse_assignments, resolve_params
from xdpq.sim.scenario import LINK_KEYS, Scenario, ScenarioError, parse_scenario, run_one
from xdpq.units import UnitError, quantity

_TOP = ("duration", "drain", "seed")
_TABLE_KEYS = {"link": LINK_KEYS, "scheduler": ("file",)}
SCENARIO_KEYS = (*_TOP, *(f"link.{k}" for k in LINK_KEYS), "scheduler.file", "workload[I].KEY")
_WORKLOAD = re.compile(r"workload(?:\[(\d+)\]|\.(\d+))\.([A-Za-z_]+)")
METRICS = (
    "latency_p99_ns",
    "latency_p50_ns",
    "throughput_bps",
    "jain_index",
    "drops",
    "fct_mean_ns",
)
SHARE_COLUMNS_UP_TO = 16  # flows; beyond that sweep.csv leaves the shares to sweep.json
DASK_HINT = "pip install 'dask[distributed]' (or pip install 'xdpq[sweep]')"


class SweepError(XdpqError):
    """A sweep that cannot run as asked: a bad axis, a bad value, a failed point."""


@dataclass(frozen=True)
class Axis:
    name: str  # as given: "weight[1]", "link.rate", "workload[0].load"
    values: tuple[Any, ...]  # the command line's texts, or a [sweep] table's TOML values
    param: bool  # a scheduler parameter (else a scenario key)

    def describe(self, value: Any) -> str:
        return f"{self.name}={value}"


@dataclass(frozen=True)
class Point:
    index: int
    label: str  # its directory
    values: dict[str, Any]  # axis name -> value, as given
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


# --- axes ---------------------------------------------------------------------------------------


def _scenario_key(name: str) -> tuple[str, ...] | None:
    """The path of a scenario key in the TOML, or None for a scheduler parameter's name."""
    if name in _TOP:
        return (name,)
    table, _, key = name.partition(".")
    if key in _TABLE_KEYS.get(table, ()):
        return (table, key)
    if m := _WORKLOAD.fullmatch(name):
        return ("workload", m[1] or m[2], m[3])
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


def parse_axis(text: str) -> Axis:
    """``NAME=V1,V2,...`` from the command line."""
    name, eq, rhs = text.partition("=")
    name = name.strip()
    if not eq or not name:
        raise SweepError(
            f"--param {text!r}: write NAME=V1,V2,..., e.g. quantum=1514B,3028B "
            "or link.rate=10Mbit,100Mbit"
        )
    values = tuple(v.strip() for v in rhs.split(","))
    if not rhs.strip() or "" in values:
        raise SweepError(
            f"--param {text!r}: give one or more values separated by commas, e.g. {name}=1,2,4"
        )
    if len(set(values)) != len(values):
        raise SweepError(f"--param {text!r}: a value is given twice")
    if (
        name.startswith(("link.", "scheduler.", "workload[", "workload."))
        and _scenario_key(name) is None
    ):
        raise SweepError(
            f"--param {text!r}: '{name}' is not a scenario key that can be "
            f"swept; those are {', '.join(SCENARIO_KEYS)}"
        )
    key = _scenario_key(name)
    if key is None:
        return Axis(name, values, param=True)
    return Axis(name, tuple(_toml_value(v) for v in values), param=False)


def axes_of(scenario: Scenario, given: Sequence[str]) -> list[Axis]:
    """The command line's axes, then the scenario's own ``[sweep]`` (unless overridden)."""
    axes = [parse_axis(t) for t in given]
    names = [a.name for a in axes]
    for name in names:
        if names.count(name) > 1:
            raise SweepError(
                f"--param {name} is given twice: give all its values in one, {name}=V1,V2,..."
            )
    sweep = scenario.sweep
    if sweep is not None:
        name = re.sub(r"^workload\.(\d+)\.", r"workload[\1].", sweep.key)
        if name not in names:
            if _scenario_key(name) is None:
                raise SweepError(
                    f"{scenario.path}: sweep.key '{sweep.key}' cannot be combined "
                    f"with --param; give it as --param instead"
                )
            axes.append(Axis(name, sweep.values, param=False))
    if not axes:
        raise SweepError(
            f"nothing to sweep: give --param NAME=V1,V2,... ({scenario.path} has no [sweep] table)"
        )
    return axes


# --- points -------------------------------------------------------------------------------------


@cache
def _program(path: Path) -> ir.Program:
    return load(path)


def _assign(data: dict[str, Any], axis: Axis, value: Any, n_workloads: int) -> None:
    key = _scenario_key(axis.name)
    assert key is not None
    match key:
        case (name,):
            data[name] = value
        case ("workload", index, name):
            if int(index) >= n_workloads:
                raise SweepError(
                    f"--param {axis.name}: the scenario has workloads 0..{n_workloads - 1}"
                )
            workloads = data["workload"]
            (workloads[int(index)] if isinstance(workloads, list) else workloads)[name] = value
        case (table, name):
            data.setdefault(table, {})[name] = value


def _unknown_param(axis: Axis, prog: ir.Program) -> SweepError:
    params = (
        ", ".join(p.name + (f"[0..{p.count - 1}]" if p.count else "") for p in prog.params)
        or "none"
    )
    return SweepError(
        f"--param {axis.name}: neither a parameter of the scheduler "
        f"'{prog.name}' (its parameters: {params}) nor a scenario key "
        f"({', '.join(SCENARIO_KEYS)})"
    )


def _check(data: dict[str, Any], base: Scenario, where: str) -> Scenario:
    try:
        return parse_scenario(data, base.path)
    except ScenarioError as exc:
        raise SweepError(f"{exc} (at the point {where})") from None


def _label(index: int, width: int, values: dict[str, Any]) -> str:
    def short(v: Any) -> str:
        return Path(v).stem if isinstance(v, str) and v.endswith(".xdpq") else str(v)

    parts = (re.sub(r"[^A-Za-z0-9_.+=-]+", "", f"{k}={short(v)}") for k, v in values.items())
    return f"{index:0{width}d}-" + "-".join(parts)[:80]


def plan(scenario: Scenario, axes: Sequence[Axis]) -> list[Point]:
    """Every point of the grid, each a checked scenario (names, units and ranges of
    the scheduler's parameters too): no point starts unless all can."""
    combos = list(itertools.product(*(a.values for a in axes)))
    width = len(str(len(combos) - 1))
    points = []
    for index, combo in enumerate(combos):
        values = {a.name: v for a, v in zip(axes, combo, strict=True)}
        where = ", ".join(a.describe(v) for a, v in zip(axes, combo, strict=True))
        data = copy.deepcopy(scenario.data)
        data.pop("sweep", None)
        for axis, value in zip(axes, combo, strict=True):
            if not axis.param:
                _assign(data, axis, value, len(scenario.workloads))
        point = _check(data, scenario, where)
        prog = _program(point.scheduler)
        params: dict[str, int | list[int]] = dict(point.params)
        for axis, value in zip(axes, combo, strict=True):
            if axis.param:
                base_name = axis.name.partition("[")[0]
                if base_name not in {p.name for p in prog.params}:
                    raise _unknown_param(axis, prog)
                try:
                    params.update(parse_assignments(prog, [f"{axis.name}={value}"], params))
                except XdpqError as exc:
                    raise SweepError(f"--param {axis.name}: {exc}") from None
        if params != point.params:
            data.setdefault("scheduler", {})["params"] = params
            point = _check(data, scenario, where)
        try:
            resolve_params(prog, point.params)
        except XdpqError as exc:
            raise SweepError(f"{exc} (at the point {where})") from None
        points.append(Point(index, _label(index, width, values), values, data))
    return points


# --- running ------------------------------------------------------------------------------------


def run_point(task: Task) -> dict[str, Any]:
    """Run one point into its directory and return its row (a worker's whole job)."""
    point = task.point
    try:
        scenario = parse_scenario(point.data, task.scenario_path)
        out = run_one(
            scenario,
            Path(task.out_dir) / point.label,
            load_scheduler,
            progress=False,
            plots=task.plots,
            label=point.label,
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
        "drops": sum(n for k, n in doc["outcomes"].items() if k.startswith("drop")),
        "outcomes": doc["outcomes"],
        "flows_completed": completed,
        "fct_mean_ns": round(sum(c["fct_mean_ns"] * c["flows"] for c in classes) / completed)
        if completed
        else 0,
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
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
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
        for f in dask_completed(futures):
            yield f.result()


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
    done: Callable[[dict[str, Any], int, int], None] | None = None,
) -> SweepResult:
    """Plan, run every point (``jobs`` at a time here, or on the Dask scheduler at
    ``dask``), and write sweep.json, sweep.csv and (with ``plots``) sweep.png.
    ``done(row, finished, total)`` hears of each point as it finishes."""
    if metric not in METRICS:
        raise SweepError(f"no metric '{metric}': choose one of {', '.join(METRICS)}")
    if jobs < 1:
        raise SweepError(f"--jobs {jobs}: give at least 1")
    points = plan(scenario, axes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if flow is None and scenario.sweep is not None:
        flow = scenario.sweep.flow
    tasks = [Task(p, str(scenario.path.resolve()), str(out.resolve()), plots, flow) for p in points]
    rows: list[dict[str, Any]] = []
    for row in _dask(tasks, dask) if dask else _pool(tasks, jobs):
        rows.append(row)
        if done is not None:
            done(row, len(rows), len(tasks))
    rows.sort(key=lambda r: r["point"])
    files = [
        write_json(scenario, axes, rows, metric, out / "sweep.json"),
        write_csv(axes, rows, out / "sweep.csv"),
    ]
    if plots:
        files.append(plot(axes, rows, metric, out / "sweep.png", title=scenario.name))
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
        "drops",
        "flows_completed",
        "fct_mean_ns",
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
    "fct_mean_ns": (1e6, "ms"),
    "throughput_bps": (1e6, "Mbit/s"),
}


def plot(
    axes: Sequence[Axis], rows: list[dict[str, Any]], metric: str, path: Path, *, title: str
) -> Path:
    """``metric`` against the first axis with more than one value: one line for each
    combination of the other such axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    first, *rest = [a for a in axes if len(a.values) > 1] or axes[:1]
    numbers = [_number(v) for v in first.values]
    numeric = all(n is not None for n in numbers)
    position = {
        v: (n if numeric else float(i))
        for i, (v, n) in enumerate(zip(first.values, numbers, strict=True))
    }
    scale, unit = _SCALE.get(metric, (1.0, ""))
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_title(f"{title}: {metric} against {first.name}")
    ax.grid(True, alpha=0.3)
    lines: dict[tuple[Any, ...], list[tuple[float, float]]] = {}
    for r in rows:
        key = tuple(r["values"][a.name] for a in rest)
        lines.setdefault(key, []).append((position[r["values"][first.name]], r[metric] / scale))
    for key, pts in lines.items():
        pts.sort()
        name = ", ".join(a.describe(v) for a, v in zip(rest, key, strict=True)) or None
        ax.plot(
            [x for x, _ in pts],
            [y for _, y in pts],
            marker="o",
            label=name,
            linestyle="-" if numeric else "none",
        )
    if numeric and max(numbers) > 20 * max(min(numbers), 1e-12):  # type: ignore[type-var]
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks(list(position.values()), [str(v) for v in first.values])
    ax.set_xlabel(first.name)
    name = metric.removesuffix("_ns").removesuffix("_bps")
    ax.set_ylabel(f"{name} ({unit})" if unit else name)
    if rest:
        ax.legend(fontsize="small")
    fig.savefig(path, format="png", dpi=100)
    return path
