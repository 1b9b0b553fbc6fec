"""Parameters on the command line: units checked against each parameter's kind, tables,
and messages that say what to write instead. No privileges needed."""

from __future__ import annotations

import json

import pytest
from verbs import refused

from conftest import REPO
from xdpq.cli import main
from xdpq.dsl import load
from xdpq.errors import XdpqError
from xdpq.ir.link import Bql
from xdpq.ir.outcomes import Unclaimed
from xdpq.ir.params import format_values, parse_assignments
from xdpq.runtime.deploy import check_bql_egress

DRR = load(REPO / "schedulers/drr.xdpq")
STFQ = load(REPO / "schedulers/stfq.xdpq")
FQ_CODEL = load(REPO / "schedulers/fq_codel.xdpq")


def test_values_take_the_units_of_their_kind() -> None:
    assert parse_assignments(DRR, ["quantum=3000B"]) == {"quantum": 3000}
    assert parse_assignments(DRR, ["quantum=2KiB"]) == {"quantum": 2048}
    got = parse_assignments(FQ_CODEL, ["target=5ms", "interval=100ms"])
    assert got == {"target": 5_000_000, "interval": 100_000_000}


def test_tables_whole_every_entry_or_one() -> None:
    assert parse_assignments(STFQ, ["weight=1,2,3,4,5,6,7,8"]) == {"weight": [1, 2, 3, 4, 5,
                                                                              6, 7, 8]}
    assert parse_assignments(STFQ, ["weight=3"]) == {"weight": [3] * 8}
    assert parse_assignments(STFQ, ["weight[2]=3"]) == {"weight": [1, 1, 3, 1, 1, 1, 1, 1]}
    current = {"weight": [5] * 8}
    assert parse_assignments(STFQ, ["weight[0]=2", "weight[7]=9"], current) == {
        "weight": [2, 5, 5, 5, 5, 5, 5, 9]}


@pytest.mark.parametrize(("prog", "text", "words"), [
    (DRR, "quantum=5ms", ["'quantum' is a size", "'5ms' is a time", "quantum=1514B"]),
    (DRR, "quantum=3000", ["'quantum' is a size", "plain number"]),
    (DRR, "quantum=10B", ["10B is outside", "64B..65536B"]),
    (DRR, "quantum=3000Bytes", ["unknown unit", "quantum=1514B"]),
    (DRR, "quantum", ["write NAME=VALUE"]),
    (DRR, "weight=2", ["no parameter 'weight'", "quantum: a size in 64B..65536B"]),
    (DRR, "quantum[1]=3000B", ["single value, not a table"]),
    (STFQ, "weight=1,2", ["table of 8 values, got 2"]),
    (STFQ, "weight[8]=1", ["entries 0..7"]),
    (STFQ, "weight[x]=1", ["index must be a number"]),
    (STFQ, "weight=1001", ["outside", "1..1000"]),
    (FQ_CODEL, "target=5MB", ["'target' is a time", "target=5ms"]),
])
def test_refusals_name_the_problem_and_what_to_write(prog, text: str, words: list[str]) -> None:
    with pytest.raises(XdpqError) as exc:
        parse_assignments(prog, [text])
    for w in words:
        assert w in str(exc.value), str(exc.value)


def test_values_shown_as_written() -> None:
    assert format_values(FQ_CODEL, {"target": 5_000_000, "quantum": 1514}) == {
        "target": "5ms", "quantum": "1514B"}
    assert format_values(FQ_CODEL, {"target": 1500}) == {"target": "1500ns"}
    assert format_values(STFQ, {"weight": [1, 2]}) == {"weight": "1,2"}


def test_a_bql_limit_needs_a_veth_egress() -> None:
    """deploy, Deployment and ``xdpq set --bql`` refuse by this one rule: only a veth
    egress reports completions."""
    for text in ("adaptive", "fixed:3000"):
        with pytest.raises(XdpqError, match=rf"--bql {text[:5]}.* needs a completion source.*"
                                            r"\(eth1 is a physical NIC\): use --bql off"):
            check_bql_egress(Bql.parse(text), "eth1", "")
        check_bql_egress(Bql.parse(text), "out0", "veth")
    check_bql_egress(Bql.parse("off"), "eth1", "")


# --- tc's units at the command line ------------------------------------------------------------

TBF = REPO / "schedulers/tbf.xdpq"
TBF_SCENARIO = REPO / "sim/tbf.toml"


def test_tc_spellings_mean_what_tc_means_at_the_command_line(tmp_path, capsys) -> None:
    """``rate=10mbit`` and ``burst=10k`` were refused; ``mbps`` is bytes per second."""
    assert main(["sweep", str(TBF_SCENARIO), "--param", "rate=10mbit,2mbps", "--param",
                 "burst=10k", "--param", "link.bql=fixed:3kb", "--jobs", "1", "--no-plots",
                 "--out", str(tmp_path)]) == 0
    runs = [json.loads(p.read_text())["scenario"] for p in sorted(tmp_path.glob("*/summary.json"))]
    assert [r["params"] for r in runs] == [{"rate": 10_000_000, "burst": 10_240},
                                          {"rate": 16_000_000, "burst": 10_240}]
    assert {r["link"]["bql"]["limit"] for r in runs} == {3072}


@pytest.mark.parametrize(("axis", "words"), [
    ("burst=10KB", ["'10KB' is ambiguous", "10000B (K = 1000)", "as tc reads it 10240B",
                    "write 10000B or 10KiB"]),
    ("burst=10K", ["'10K' is ambiguous as a size", "10000B", "10240B"]),
    ("rate=10Mbps", ["'10Mbps' is ambiguous", "10Mbit (megabits per second)",
                     "as tc reads it 80Mbit (megabytes per second)", "write 10Mbit or 10MBps"]),
    ("link.bql=fixed:10KB", ["'fixed:10KB'", "10000B", "10240B"]),
    ("link.rate=1Gbps", ["'1Gbps' is ambiguous", "1Gbit", "8Gbit"]),
])
def test_ambiguous_spellings_are_refused_at_the_command_line_with_both_readings(
        axis: str, words: list[str], tmp_path, capsys) -> None:
    assert main(["sweep", str(TBF_SCENARIO), "--param", axis, "--jobs", "1", "--no-plots",
                 "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    for w in words:
        assert w in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.kernel
def test_deploy_reads_bql_and_parameters_with_tcs_units(cli) -> None:
    base = ("deploy", str(TBF), "--in", "xdpqnone0", "--out", "xdpqnone1")
    # Units accepted: the refusal is the next check's, the missing interface.
    refused(cli(*base, "--bql", "fixed:30kb", "--param", "rate=10mbit", "--param", "burst=10k"),
            "interface 'xdpqnone0' does not exist")
    refused(cli(*base, "--bql", "fixed:10KB"), "--bql 'fixed:10KB'", "10000B", "10240B",
            "write 10000B or 10KiB")
    refused(cli(*base, "--param", "rate=10Mbps"), "10Mbit", "80Mbit", "write 10Mbit or 10MBps")


def test_unclaimed_is_forward_or_stack() -> None:
    assert [Unclaimed.parse(t) for t in ("forward", "stack")] == [Unclaimed.FORWARD,
                                                                   Unclaimed.STACK]
    with pytest.raises(XdpqError, match=r"--unclaimed pass: say forward .* or stack"):
        Unclaimed.parse("pass")
