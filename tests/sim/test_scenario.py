"""Scenario files: loading, errors that name the key, runs and their outputs."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from xdpq.codegen.python import load_scheduler
from xdpq.ir.link import BqlMode
from xdpq.library import library_path
from xdpq.sim import scenario as scenario_module
from xdpq.sim.scenario import ScenarioError, load_scenario, parse_scenario, run_scenario
from xdpq.sim.sweep import SweepError, axes_of, plan, run_sweep

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "sim").glob("*.toml"))


BASE = """
name = "t"
duration = "50ms"
seed = 3
[link]
rate = "100Mbit"
propagation = "10us"
bql = "fixed:3000"
[scheduler]
file = "schedulers/fifo.xdpq"
[[workload]]
kind = "constant"
rate = "10Mbit"
size = "1000B"
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    (tmp_path / "schedulers").mkdir(exist_ok=True)
    for s in ("fifo", "prio", "stfq"):
        (tmp_path / "schedulers" / f"{s}.xdpq").write_text(library_path(s).read_text())
    sub = tmp_path / "sim"
    sub.mkdir(exist_ok=True)
    path = sub / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads(path: Path) -> None:
    s = load_scenario(path)
    assert s.scheduler.is_file() and s.scheduler.parent.name == "schedulers"
    assert s.duration_ns > 0 and s.workloads
    if s.sweep is not None:  # every value of its [sweep] makes a scenario too
        for point in plan(s, axes_of(s, [])):
            assert "sweep" not in point.data and parse_scenario(point.data, path)


def points(path: Path) -> list[Any]:
    """The scenarios of a file's [sweep], one per value."""
    s = load_scenario(path)
    return [parse_scenario(p.data, path) for p in plan(s, axes_of(s, []))]


def test_shipped_scenarios_cover_issue_6() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"prio", "stfq", "drr", "incast", "websearch", "tbf", "pacing", "hpfq",
            "bql_sweep"} <= names
    assert [v.scheduler.stem for v in points(REPO / "sim" / "incast.toml")] == ["fifo", "fq_codel"]
    assert [v.scheduler.stem for v in points(REPO / "sim" / "websearch.toml")] == ["srpt", "fifo"]
    modes = [v.link.bql.mode for v in points(REPO / "sim" / "bql_sweep.toml")]
    assert BqlMode.OFF in modes and BqlMode.FIXED in modes and BqlMode.ADAPTIVE in modes


def test_units_and_defaults(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, BASE))
    assert (s.duration_ns, s.link.rate_bps, s.link.propagation_ns) == (50_000_000, 10**8, 10_000)
    assert s.link.bql.mode is BqlMode.FIXED and s.link.bql.limit == 3000
    assert s.scheduler == tmp_path / "schedulers" / "fifo.xdpq"  # found in a directory above
    (w,) = s.workloads
    assert w.options["rate_pps"] == pytest.approx(1250) and w.first_flow == 0


FIFO, STFQ = 'file = "schedulers/fifo.xdpq"', 'file = "schedulers/stfq.xdpq"'


@pytest.mark.parametrize(("change", "key", "words"), [
    (('rate = "100Mbit"', 'rate = "100Mbti"'), "link.rate", "unknown unit"),
    (('rate = "100Mbit"', 'rate = "100ms"'), "link.rate", "expected a rate"),
    (('bql = "fixed:3000"', 'bql = "fast"'), "link.bql", "adaptive, off or fixed"),
    (('duration = "50ms"', ""), "duration", "missing"),
    (('file = "schedulers/fifo.xdpq"', 'file = "schedulers/nope.xdpq"'), "scheduler.file",
     "no file"),
    (('kind = "constant"', 'kind = "constnt"'), "workload[0].kind", "not one of"),
    (('size = "1000B"', 'size = "1000B"\nsenders = 3'), "workload[0].senders", "unknown key"),
    (('rate = "10Mbit"', ""), "workload[0].rate", "either rate"),
    (('seed = 3', 'seed = -1'), "seed", "below"),
    (('seed = 3', 'seed = "x"'), "seed", "whole number"),
    # Scheduler parameters are checked as xdpq set checks them: units, ranges, names.
    ((FIFO, STFQ + '\nparams = { weight = "2us" }'), "scheduler.params.weight",
     "a time"),
    ((FIFO, STFQ + '\nparams = { weight = [1, 2, 0, 1, 1, 1, 1, 1] }'),
     "scheduler.params.weight", "outside the range"),
    ((FIFO, STFQ + '\nparams = { weigth = 2 }'), "scheduler.params.weigth", "weight"),
])
def test_errors_name_the_file_and_key(tmp_path: Path, change: tuple[str, str], key: str,
                                      words: str) -> None:
    path = write(tmp_path, BASE.replace(*change, 1))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.key == key
    assert str(err.value).startswith(f"{path}: {key}: ")
    assert words in str(err.value)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "\n[link\n")
    with pytest.raises(ScenarioError, match=r"s\.toml: not valid TOML: .*line"):
        load_scenario(path)


def test_bad_sweep_value_names_the_key_and_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + '[sweep]\nkey = "link.bql"\nvalues = ["off", "fixed:x"]\n')
    s = load_scenario(path)
    with pytest.raises(SweepError, match=rf"^{path}: link\.bql: .*at the point link\.bql=fixed:x"):
        plan(s, axes_of(s, []))


def test_a_sweep_is_not_one_run(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + '[sweep]\nkey = "link.bql"\nvalues = ["off", "adaptive"]\n')
    with pytest.raises(ScenarioError, match=r"s\.toml: sweep: .*run_sweep"):
        run_scenario(path, tmp_path / "o", load_scheduler, progress=False)
    assert not (tmp_path / "o").exists()


def test_run_writes_summary_records_and_plots(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace('duration = "50ms"', 'duration = "200ms"') + """
[[workload]]
kind = "poisson"
pps = 5000
size = "500B"
sizes = "exponential"
[[workload]]
kind = "flows"
cdf = "websearch"
load = 0.3
count = 30
mtu = "1514B"
""")
    run = run_scenario(path, tmp_path / "out", load_scheduler, progress=False)
    out = tmp_path / "out"
    doc = json.loads((out / "summary.json").read_text())
    assert doc["scenario"]["name"] == "t" and doc["scenario"]["seed"] == 3
    assert doc["packets"] == run.summary.packets > 0
    assert {f["flow"] for f in doc["flows"]} >= {0, 1, 2}  # flows start after 0 and 1
    assert sum(c["flows"] for c in doc["fct"]) == doc["flows_completed"] > 0
    rows = list(csv.DictReader((out / "records.csv").open()))
    assert len(rows) == doc["packets"]
    for name in ("throughput.png", "latency_cdf.png", "occupancy.png", "fct.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    # the constant flow: 10 Mbit/s for 200 ms
    flow0 = next(f for f in doc["flows"] if f["flow"] == 0)
    assert flow0["packets"] == 250


def test_runs_are_reproducible(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + '[[workload]]\nkind = "poisson"\npps = 20000\nsize = "600B"\n')
    a = run_scenario(path, tmp_path / "a", load_scheduler, progress=False, plots=False)
    b = run_scenario(path, tmp_path / "b", load_scheduler, progress=False, plots=False)
    assert (tmp_path / "a" / "records.csv").read_bytes() == \
        (tmp_path / "b" / "records.csv").read_bytes()
    assert a.summary == b.summary


def test_sweep_runs_each_value(tmp_path: Path) -> None:
    text = BASE.replace('file = "schedulers/fifo.xdpq"', 'file = "schedulers/prio.xdpq"') \
        .replace('rate = "10Mbit"', 'rate = "150Mbit"')
    text += ('[[workload]]\nkind = "poisson"\npps = 1000\nsize = "200B"\ndscp = 46\n'
             '[sweep]\nkey = "link.bql"\nvalues = ["off", "fixed:3000"]\nflow = 1\n')
    s = load_scenario(write(tmp_path, text))
    result = run_sweep(s, axes_of(s, []), tmp_path / "out")
    assert [r["label"] for r in result.rows] == ["0-link.bql=off", "1-link.bql=fixed-3000"]
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    off, fixed = doc["points"]
    assert [off["values"], fixed["values"]] == [{"link.bql": "off"}, {"link.bql": "fixed:3000"}]
    assert off["latency_of_flow"] == 1
    assert (tmp_path / "out" / "sweep.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "out" / "0-link.bql=off" / "summary.json").is_file()
    # Without BQL the device queue makes priority useless: the EF flow waits behind it.
    assert off["latency_p99_ns"] > 20 * fixed["latency_p99_ns"]


def test_stfq_scenario_shares_follow_the_weights(tmp_path: Path) -> None:
    run = run_scenario(REPO / "sim" / "stfq.toml", tmp_path, load_scheduler, progress=False,
                       plots=False)
    shares = [f.throughput_bps / run.summary.throughput_bps for f in run.summary.flows]
    assert shares == pytest.approx([1 / 6, 2 / 6, 3 / 6], abs=0.01)
    assert run.summary.jain_index == pytest.approx(1.0, abs=0.001)  # over throughput / weight


def test_scheduler_errors_name_the_scenario(tmp_path: Path) -> None:
    def refuse(path: Path, params: dict[str, Any]) -> Any:
        from xdpq.errors import XdpqError

        raise XdpqError("the scheduler 'fifo' has no parameter 'x'")

    with pytest.raises(ScenarioError, match=r"s\.toml: scheduler: .*no parameter 'x'"):
        run_scenario(write(tmp_path, BASE), tmp_path / "o", refuse, progress=False)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_run_with_the_compiled_schedulers(path: Path, tmp_path: Path) -> None:
    """Parameter names and values in sim/ match the library (runs cut short)."""
    data = tomllib.loads(path.read_text())
    flows = any(w["kind"] == "flows" for w in data["workload"])  # ~45 flows/s: wait for some
    data["duration"], data["drain"] = "200ms" if flows else "20ms", "0s"
    if "sweep" in data:
        data["sweep"]["values"] = data["sweep"]["values"][:2]
    s = parse_scenario(data, path)
    if s.sweep is None:
        run = run_scenario(s, tmp_path, load_scheduler, progress=False, plots=False)
        assert run.summary.delivered > 0
        return
    rows = run_sweep(s, axes_of(s, []), tmp_path, plots=False).rows
    assert len(rows) == 2 and all(r["outcomes"].get("delivered") for r in rows)


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_on_a_long_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    progress: bool) -> None:
    import rich.progress

    started: list[rich.progress.Progress] = []
    monkeypatch.setattr(rich.progress.Progress, "start", lambda bar: started.append(bar))
    monkeypatch.setattr(scenario_module, "PROGRESS_AFTER_S", 0.0)  # every run is long
    run = run_scenario(write(tmp_path, BASE), tmp_path / "o", load_scheduler,
                       progress=progress, plots=False)
    assert run.summary.packets == 63
    assert len(started) == progress  # a bar when asked for, and only then
