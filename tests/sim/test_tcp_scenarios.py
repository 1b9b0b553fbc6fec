"""[[tcp]] in scenario files, and what TCP through the library's schedulers shows.

The RRUL scenario (sim/rrul.toml: four CUBIC flows and a sparse probe through
a 100 Mbit/s link) through FIFO and fq_codel: the probe waits behind the
FIFO's whole queue, and hardly at all under fq_codel; fq_codel and STFQ share
the link evenly among equal flows. Under a FIFO, flows with a short base RTT
take more than those with a long one.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from xdpq.codegen.python import load_scheduler
from xdpq.sim.scenario import ScenarioError, parse_scenario, run_scenario
from xdpq.sim.sweep import axes_of, parse_axis, plan
from xdpq.sim.tcp import Cc, Ecn

RRUL = REPO / "sim" / "rrul.toml"
MS = 1_000_000
CODEL_TARGET_MS = 5


def rrul(scheduler: str, **changes: Any) -> dict[str, Any]:
    data = tomllib.loads(RRUL.read_text())
    del data["sweep"]
    data["scheduler"]["file"] = f"schedulers/{scheduler}.xdpq"
    data.update(changes)
    return data


def run(data: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    out = run_scenario(parse_scenario(data, RRUL), tmp_path, load_scheduler, progress=False,
                       plots=False)
    return out.doc


def test_tcp_tables_number_their_flows_after_the_workloads() -> None:
    data = rrul("fifo")
    data["tcp"] = [{"flows": 2, "rtt": "10ms", "stagger": "5ms", "start": "1s",
                    "ecn": "classic", "cc": "newreno", "size": "1MiB"},
                   {"rtt": "100ms", "ip": 6, "cc": "dctcp", "ecn": "l4s", "delack": "0s"}]
    s = parse_scenario(data, RRUL)
    assert [t.flow for t in s.tcp] == [1, 2, 3]
    a, b, c = s.tcp
    assert (a.start_ns, b.start_ns, c.start_ns) == (1000 * MS, 1005 * MS, 0)
    assert (a.cc, a.ecn, a.size, a.rtt_ns) == (Cc.NEWRENO, Ecn.CLASSIC, 1 << 20, 10 * MS)
    assert (c.cc, c.ecn, c.ip, c.delack_ns, c.stop_ns) == (Cc.DCTCP, Ecn.L4S, 6, 0, 10**10)
    assert (a.mss, c.mss) == (1448, 1428)  # 1514-byte frames over IPv4 and IPv6
    assert (a.jitter_ns, c.jitter_ns) == (0, 0) and len({a.seed, b.seed, c.seed}) == 3


def test_a_run_with_jittered_senders_is_a_function_of_its_file(tmp_path: Path) -> None:
    data = rrul("fifo", duration="1s")
    first, again = run(data, tmp_path / "a"), run(data, tmp_path / "b")
    assert first["tcp"]["flows"] == again["tcp"]["flows"]
    data["seed"] = 2  # another draw of the jitter
    assert run(data, tmp_path / "c")["tcp"]["flows"] != first["tcp"]["flows"]


@pytest.mark.parametrize(("table", "message"), [
    ({"rtt": "20ms", "cc": "bbr"}, r"tcp\[0\]\.cc: 'bbr' is not one of newreno, cubic, dctcp"),
    ({"rtt": "20ms", "window": 3}, r"tcp\[0\]\.window: unknown key \(this table takes: "
                                   r"flows, first_flow, cc"),
    ({"flows": 2}, r"tcp\[0\]\.rtt: missing"),
    ({"rtt": "20ms", "stop": "20s"}, r"tcp\[0\]\.stop: is after the scenario's duration"),
    ({"rtt": "20ms", "mss": "9000B"}, r"tcp\[0\]\.mss: 9000 is above the most allowed, 1448"),
])
def test_a_bad_tcp_table_names_its_key(table: dict[str, Any], message: str) -> None:
    data = rrul("fifo")
    data["tcp"] = [table]
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, RRUL)


def test_tcp_alone_makes_a_scenario_and_a_tcp_key_can_be_swept() -> None:
    data = rrul("fifo")
    del data["workload"]
    s = parse_scenario(data, RRUL)
    assert not s.workloads and len(s.tcp) == 4
    points = plan(s, [parse_axis("tcp.0.rtt=10ms,50ms")])
    assert [parse_scenario(p.data, RRUL).tcp[0].rtt_ns for p in points] == [10 * MS, 50 * MS]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """sim/rrul.toml through fifo, fq_codel and stfq, 6 s each."""
    return {s: run(rrul(s, duration="6s"), tmp_path_factory.mktemp(s))
            for s in ("fifo", "fq_codel", "stfq")}


def probe_p99_ms(doc: dict[str, Any]) -> float:
    return next(f for f in doc["flows"] if f["flow"] == 0)["latency_p99_ns"] / MS


def test_fq_codel_keeps_the_probe_within_codel_targets_and_fifo_does_not(
        runs: dict[str, dict[str, Any]]) -> None:
    fifo, fq = probe_p99_ms(runs["fifo"]), probe_p99_ms(runs["fq_codel"])
    assert fq <= 3 * CODEL_TARGET_MS
    assert fifo >= 10 * fq
    # The probe waits behind the queue the flows' windows have built: in 6 s, from
    # where HyStart left slow start, not yet the FIFO's whole 1000 packets (121 ms;
    # the 10-s scenario fills it), but more than 400 of them.
    assert fifo >= 50
    for doc in runs.values():  # and the flows keep the link busy
        assert doc["tcp"]["goodput_bps"] >= 0.9 * 100e6 * 1448 / 1514


@pytest.mark.parametrize("scheduler", ["fq_codel", "stfq"])
def test_fair_queueing_shares_goodput_evenly(runs: dict[str, dict[str, Any]],
                                            scheduler: str) -> None:
    assert runs[scheduler]["tcp"]["jain_index"] >= 0.99


def test_the_run_reports_goodput_retransmits_cwnd_and_a_timeline(
        runs: dict[str, dict[str, Any]]) -> None:
    tcp = runs["fq_codel"]["tcp"]
    assert [f["flow"] for f in tcp["flows"]] == [1, 2, 3, 4]
    assert all(f["retransmits"] > 0 and f["loss_events"] > 0 for f in tcp["flows"])
    timeline = tcp["timeline"]
    assert set(timeline["goodput_bps"]) == {"1", "2", "3", "4"}
    assert set(timeline["latency_ns"]) == {"0"}  # the probe's
    assert len(timeline["goodput_bps"]["1"]) == 6000 // (timeline["bin_ns"] // MS)


def test_unequal_rtts_under_fifo_favour_the_short_ones(tmp_path: Path) -> None:
    """Two flows with a 10 ms base RTT and two with 100 ms share a FIFO: the short ones
    grow their windows ten times as often, and take more than half the link."""
    data = rrul("fifo", duration="15s")
    data["tcp"] = [{"flows": 2, "rtt": "10ms"}, {"flows": 2, "rtt": "100ms"}]
    flows = {f["flow"]: f["goodput_bps"] for f in run(data, tmp_path)["tcp"]["flows"]}
    short, long = flows[1] + flows[2], flows[3] + flows[4]
    assert short / (short + long) >= 0.55


def test_rrul_sweeps_four_schedulers_and_draws_their_timelines(tmp_path: Path) -> None:
    """The shipped file's [sweep] (cut short): one point per scheduler, and
    timeline.png beside sweep.png."""
    from xdpq.sim.sweep import run_sweep

    data = tomllib.loads(RRUL.read_text())
    data["duration"] = "300ms"
    s = parse_scenario(copy.deepcopy(data), RRUL)
    result = run_sweep(s, axes_of(s, []), tmp_path)
    assert [Path(r["values"]["scheduler.file"]).stem for r in result.rows] == [
        "fifo", "fq_codel", "stfq", "drr"]
    assert (tmp_path / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    assert all(r["goodput_bps"] > 0 for r in result.rows)
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["points"][0]["latency_of_flow"] == 0
