"""``xdpq sweep``: a grid of scenario runs, in parallel, tabulated and plotted."""

from __future__ import annotations

import csv
import json
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO
from xdpq.cli import main
from xdpq.sim.scenario import parse_scenario
from xdpq.sim.sweep import SweepError, axes_of, sweep_key

# STFQ, three flows in DSCP classes 0, 1, 2, each offering 60 % of the link.
SCENARIO = f"""
name = "sweep-test"
duration = "40ms"
seed = 7
[link]
rate = "20Mbit"
bql = "fixed:3000"
[scheduler]
file = "{REPO / "schedulers" / "stfq.xdpq"}"
[[workload]]
kind = "constant"
rate = "12Mbit"
size = "1000B"
[[workload]]
kind = "constant"
rate = "12Mbit"
size = "1000B"
dscp = 8
[[workload]]
kind = "constant"
rate = "12Mbit"
size = "1000B"
dscp = 16
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    return path


def sweep(scenario: Path, out: Path, *args: str) -> int:
    return main(["sweep", str(scenario), "--out", str(out), *args])


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "sweep.csv").open() as f:
        return list(csv.DictReader(f))


def test_grid_runs_every_point_and_jobs_do_not_change_results(
    scenario: Path, tmp_path: Path
) -> None:
    grid = ["--param", "weight[1]=1,2", "--param", "link.rate=20Mbit,40Mbit"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert sweep(scenario, one, *grid, "--jobs", "1", "--metric", "jain_index") == 0
    assert sweep(scenario, two, *grid, "--jobs", "2", "--metric", "jain_index", "--no-plots") == 0
    got = rows(one)
    assert [(r["scheduler.params.weight[1]"], r["link.rate"]) for r in got] == [
        ("1", "20Mbit"),
        ("1", "40Mbit"),
        ("2", "20Mbit"),
        ("2", "40Mbit"),
    ]
    # The values reached the runs: weight 2 gives class 1 twice class 0's share
    # on the saturated link; the 40 Mbit/s link is not saturated, so all get what
    # they offer.
    shares = {
        (r["scheduler.params.weight[1]"], r["link.rate"]):
        float(r["share_flow1"]) / float(r["share_flow0"])
        for r in got
    }
    assert shares[("1", "20Mbit")] == pytest.approx(1, abs=0.1)
    assert shares[("2", "20Mbit")] == pytest.approx(2, rel=0.1)
    assert shares[("2", "40Mbit")] == pytest.approx(1, abs=0.15)
    assert float(got[1]["throughput_bps"]) > 1.5 * float(got[0]["throughput_bps"])
    for r in got:
        assert set(r) >= {"jain_index", "latency_p50_ns", "latency_p99_ns", "drops"}
        assert (one / r["label"] / "summary.json").is_file()
    assert (one / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((one / got[0]["label"]).glob("*.png"))
    assert not list(two.rglob("*.png"))
    # One point at a time or two at once: the same numbers, byte for byte.
    for name in ("sweep.json", "sweep.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    for r in got:
        for name in ("summary.json", "records.csv"):
            assert (one / r["label"] / name).read_bytes() == (two / r["label"] / name).read_bytes()
    doc = json.loads((one / "sweep.json").read_text())
    assert [a["name"] for a in doc["axes"]] == ["scheduler.params.weight[1]", "link.rate"]
    assert doc["points"][1]["values"] == {"scheduler.params.weight[1]": 1, "link.rate": "40Mbit"}
    assert doc["metric"] == "jain_index" and len(doc["points"]) == 4


def test_the_scenarios_own_sweep_is_one_more_axis(scenario: Path, tmp_path: Path) -> None:
    text = SCENARIO.replace(
        "[[workload]]", "params = { weight = [1, 1, 4, 1, 1, 1, 1, 1] }\n[[workload]]", 1
    )
    scenario.write_text(
        text + '[sweep]\nkey = "link.bql"\nvalues = ["off", "fixed:3000"]\nflow = 2\n'
    )
    out = tmp_path / "o"
    assert sweep(scenario, out, "--param", "seed=1,2", "--jobs", "2", "--no-plots") == 0
    got = rows(out)
    assert [(r["seed"], r["link.bql"]) for r in got] == [
        ("1", "off"),
        ("1", "fixed:3000"),
        ("2", "off"),
        ("2", "fixed:3000"),
    ]
    doc = json.loads((out / "sweep.json").read_text())
    assert {p["latency_of_flow"] for p in doc["points"]} == {2}
    # Flow 2 has weight 4 and gets through quickly, but without BQL the device
    # queue serves it in arrival order, behind everyone.
    assert int(got[0]["latency_p99_ns"]) > 3 * int(got[1]["latency_p99_ns"])


def test_a_scenarios_sweep_and_xdpq_sweep_are_one_engine(scenario: Path, tmp_path: Path) -> None:
    """xdpq sim runs a [sweep] as xdpq sweep runs the same axis: the same points,
    files and numbers, whichever spelling names the key."""
    with_sweep = tmp_path / "with.toml"
    with_sweep.write_text(
        SCENARIO + '[sweep]\nkey = "scheduler.params.weight[1]"\nvalues = [1, 3]\nflow = 1\n'
    )
    sim, sweep_ = tmp_path / "sim", tmp_path / "sweep"
    assert main(["sim", str(with_sweep), "--out", str(sim)]) == 0
    assert sweep(scenario, sweep_, "--param", "weight[1]=1,3", "--flow", "1", "--jobs", "2") == 0
    a, b = (json.loads((d / "sweep.json").read_text()) for d in (sim, sweep_))
    assert a.pop("file") == str(with_sweep) and b.pop("file") == str(scenario)
    assert a == b
    assert a["axes"] == [
        {"name": "scheduler.params.weight[1]", "values": [1, 3], "kind": "parameter"}
    ]
    assert [p["label"] for p in a["points"]] == ["0-weight1=1", "1-weight1=3"]
    assert [p["latency_of_flow"] for p in a["points"]] == [1, 1]
    # weight 3 gives flow 1 three times flow 0's share of the saturated link
    shares = a["points"][1]["shares"]
    assert shares["1"] / shares["0"] == pytest.approx(3, rel=0.1)
    assert (sim / "sweep.csv").read_bytes() == (sweep_ / "sweep.csv").read_bytes()
    for p in a["points"]:
        assert (sim / p["label"] / "records.csv").read_bytes() == (
            sweep_ / p["label"] / "records.csv"
        ).read_bytes()
    for d in (sim, sweep_):
        assert (d / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("seed", "seed"),
        ("link.rate", "link.rate"),
        ("scheduler.file", "scheduler.file"),
        ("workload[2].rate", "workload[2].rate"),
        ("workload.2.rate", "workload[2].rate"),
        ("quantum", "scheduler.params.quantum"),
        ("weight[1]", "scheduler.params.weight[1]"),
        ("scheduler.params.weight[1]", "scheduler.params.weight[1]"),
        ("scheduler.params.weight.1", "scheduler.params.weight[1]"),
        ("link.speed", None),
        ("scheduler.quantum", None),
        ("workload[0]", None),
        ("weight[x]", None),
    ],
)
def test_one_spelling_of_each_key(given: str, key: str | None) -> None:
    assert sweep_key(given) == key


def test_the_command_line_overrides_the_files_axis_under_any_spelling(tmp_path: Path) -> None:
    text = SCENARIO + '[sweep]\nkey = "scheduler.params.weight.1"\nvalues = [1, 2]\n'
    s = parse_scenario(tomllib.loads(text), tmp_path / "s.toml")
    assert [(a.name, a.values) for a in axes_of(s, [])] == [
        ("scheduler.params.weight[1]", (1, 2))
    ]
    assert [(a.name, a.values) for a in axes_of(s, ["weight[1]=4,8", "seed=1,2"])] == [
        ("scheduler.params.weight[1]", (4, 8)),
        ("seed", (1, 2)),
    ]
    bad = parse_scenario(
        tomllib.loads(SCENARIO + '[sweep]\nkey = "link.speed"\nvalues = [1]\n'), tmp_path / "s.toml"
    )
    with pytest.raises(SweepError, match=r"s\.toml: sweep: 'link\.speed' is not a scenario key"):
        axes_of(bad, [])


def test_a_bad_sweep_table_stops_xdpq_sim_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO + '[sweep]\nkey = "duration"\nvalues = ["10ms", "0ms"]\n')
    assert main(["sim", str(path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xdpq sim: ") and "(at the point duration=0ms)" in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("weight", "write NAME=V1,V2,..."),
        ("weight[1]=", "give one or more values"),
        ("weight[1]=1,,2", "give one or more values"),
        ("weight[1]=2,2", "a value is given twice"),
        (
            "wieght=1,2",
            "neither a parameter of the scheduler 'stfq' (its parameters: "
            "weight[0..7], flow_limit) nor a scenario key (duration, drain, seed, link.rate",
        ),
        ("weight[1]=5ms", "'weight' is a plain number, '5ms' is a time"),
        ("weight[1]=1,5000", "5000 is outside the range of 'weight', 1..1000"),
        ("weight[9]=2", "'weight' has entries 0..7"),
        (
            "link.speed=1Gbit",
            "'link.speed' is not a scenario key that can be swept; those are "
            "duration, drain, seed, link.rate",
        ),
        ("link.rate=10Mbit,fast", "link.rate: 'fast' is not a number"),
        ("duration=10ms,0", "duration: 0 is below the least allowed, 1 (at the point duration=0)"),
        ("workload[3].rate=1Mbit", "the scenario has workloads 0..2"),
        (
            "workload[0].speed=2",
            "workload[0].speed: unknown key (this table takes: kind, rate | pps",
        ),
    ],
)
def test_bad_params_are_refused_before_anything_runs(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], param: str, message: str
) -> None:
    out = tmp_path / "o"
    assert sweep(scenario, out, "--param", param) == 1
    err = capsys.readouterr().err
    assert err.startswith("xdpq sweep: ") and message in err, err
    assert not out.exists()


def test_an_axis_given_twice_and_no_axis_at_all(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sweep(scenario, tmp_path / "o", "--param", "seed=1", "--param", "seed=2") == 1
    assert "--param seed is given twice" in capsys.readouterr().err
    assert sweep(scenario, tmp_path / "o") == 1
    assert "nothing to sweep: give --param NAME=V1,V2,..." in capsys.readouterr().err


def test_dask_missing_says_how_to_install_it(
    scenario: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "dask", None)  # import dask raises ImportError
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    assert (
        sweep(scenario, tmp_path / "o", "--param", "seed=1,2", "--dask", "tcp://127.0.0.1:1") == 1
    )
    err = capsys.readouterr().err
    assert "--dask needs dask.distributed" in err and "pip install 'dask[distributed]'" in err


def test_help_carries_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "xdpq sweep sim/stfq.toml --param 'weight[1]=1,2,4,8' --jobs 2" in out
    assert "pip install 'dask[distributed]'" in out
