"""Output a script can read and a person can read: a global -j/--json (and -p) on
every verb that prints, before or after the verb; `xdpq sim`'s summary table with the
program's own drop reasons; `compile -o` saying where the C went."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading

import pytest
from verbs import Cli, deploy_args, nothing_left, wait_for

from conftest import REPO
from xdpq.cli import VERBS, build_parser
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import TestBed
from xdpq.net.trafficgen import Flow, TrafficGen

FIFO = str(REPO / "schedulers/fifo.xdpq")
TBF_SCENARIO = str(REPO / "sim/tbf.toml")


def xdpq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xdpq.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_takes_j_and_p_before_or_after_it(verb: str) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb").choices[verb]
    positional = {"check": ["f"], "fmt": ["f"], "compile": ["f"], "sim": ["s", "--out", "o"],
                  "sweep": ["s", "--out", "o"], "deploy": ["f", "--in", "a", "--out", "b"],
                  "stats": ["n"], "set": ["n"], "down": ["n"]}.get(verb, [])
    for argv in (["-j", verb, *positional], [verb, *positional, "-j"],
                 [verb, *positional, "--json"], ["--json", verb, *positional]):
        args = parser.parse_args(argv)
        assert args.json and not args.pretty, argv
    for argv in (["-p", verb, *positional], [verb, *positional, "-p"]):
        args = parser.parse_args(argv)
        assert args.pretty, argv
    args = parser.parse_args([verb, *positional])
    assert not args.json and not args.pretty
    assert "-j, --json" in sub.format_help() and "-p, --pretty" in sub.format_help()


def test_check_fmt_compile_print_json(tmp_path) -> None:
    r = xdpq("-j", "check", FIFO)
    assert r.returncode == 0 and json.loads(r.stdout) == {"file": FIFO, "ok": True, "warnings": [],
                                                          "scheduler": "fifo"}
    bad = tmp_path / "bad.xdpq"
    bad.write_text("scheduler bad\nqueue q: fifo(capacity = 10)\non enqueue { enqueue r }\n")
    r = xdpq("check", str(bad), "-j")
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["ok"] is False
    assert (doc["error"]["line"], doc["error"]["column"]) == (3, 14)
    assert doc["error"]["message"] == "unknown name 'r'"

    r = xdpq("fmt", "--check", FIFO, str(bad), "-p")
    doc = json.loads(r.stdout)
    assert r.stdout.startswith("[\n  {")  # -p: indented
    assert [d["status"] for d in doc] == ["unchanged", "would_reformat"] and r.returncode == 1

    r = xdpq("-j", "compile", FIFO, "-o", str(tmp_path / "fifo.o"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"object": str(tmp_path / "fifo.o"),
                                    "c_source": str(tmp_path / "fifo.bpf.c"),
                                    "scheduler": "fifo", "verified": False}
    assert "\n" not in r.stdout.rstrip("\n")  # -j alone: one line


def test_compile_says_it_wrote_the_c_too(tmp_path) -> None:
    r = xdpq("compile", FIFO, "-o", str(tmp_path / "fifo.o"))
    assert r.returncode == 0, r.stderr
    assert f"C, which clang compiled: {tmp_path / 'fifo.bpf.c'}" in r.stdout
    assert (tmp_path / "fifo.bpf.c").is_file()


def test_sim_prints_a_summary_with_the_programs_drop_reasons(tmp_path) -> None:
    """tbf's `drop queue_full` showed only as drop_admission."""
    r = xdpq("sim", TBF_SCENARIO, "--out", str(tmp_path), "--no-plots")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("tbf-shaping (")
    assert "still queued at the end" in lines[0]
    assert lines[1].split() == ["flow", "packets", "throughput", "share", "p50", "delay", "p99",
                                "delay", "drops"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    n = summary["scheduler_drops"]["queue_full"]["packets"]
    assert n > 0 and summary["outcomes"]["drop_admission"] == n
    assert summary["flows"][0]["drops"] == {"queue_full": n}
    assert lines[2].split()[0] == "0" and lines[2].endswith(f"queue_full {n:,}")
    assert lines[-1].startswith("wrote ")
    records = (tmp_path / "records.csv").read_text().splitlines()
    assert records[0].endswith(",outcome,reason")
    assert sum(line.endswith(",drop_admission,queue_full") for line in records) == n

    r = xdpq("-j", "sim", TBF_SCENARIO, "--out", str(tmp_path / "j"), "--no-plots")
    doc = json.loads(r.stdout)
    assert doc["summary"] == json.loads((tmp_path / "j" / "summary.json").read_text())
    assert doc["files"] == [str(tmp_path / "j" / f) for f in ("summary.json", "records.csv")]


def test_sweep_json_is_its_points_with_progress_on_stderr(tmp_path) -> None:
    r = xdpq("sweep", TBF_SCENARIO, "--param", "rate=10mbit,20mbit", "--jobs", "1",
             "--no-plots", "--out", str(tmp_path), "-j")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["points"] == json.loads((tmp_path / "sweep.json").read_text())["points"]
    assert "[2/2]" in r.stderr


@pytest.mark.kernel
def test_deploy_set_stats_list_down_print_json(cli: Cli, bed: TestBed) -> None:
    with Receiver(bed):
        st = json.loads(cli.ok("-j", *deploy_args(bed, "--detach", "--name", "js")))
        assert (st["name"], st["program"], st["ingress"], st["egress"]) == ("js", "stfq",
                                                                           "in0", "out0")
        changed = json.loads(cli.ok("set", "js", "weight[1]=4", "-j"))
        assert changed["params"]["weight"]["new"] == "1,4,1,1,1,1,1,1"
        assert json.loads(cli.ok("-j", "stats", "js"))["name"] == "js"
        assert [d["name"] for d in json.loads(cli.ok("list", "-j"))] == ["js"]
        assert json.loads(cli.ok("-j", "down", "js"))["down"] is True

        fg = cli.popen("-j", *deploy_args(bed, "--name", "fgj"))
        assert fg.stdout is not None
        ready = json.loads(fg.stdout.readline())
        assert (ready["event"], ready["name"]) == ("ready", "fgj")
        fg.send_signal(signal.SIGTERM)
        out, _ = fg.communicate(timeout=30)
        stopped = json.loads(out)
        assert stopped["event"] == "stopped" and "transmitted" in stopped["counters"]
    nothing_left(cli, bed)



# -- stats and list as tc -s and ip show them ----------------------------------------------


# The table's out row with a rate: "out … 4.9Mbit 612pps".
OUT_RATE = re.compile(r"^\s*│?\s*out\b.*(Kbit|Mbit) [\d,]+pps", re.M)


@pytest.mark.kernel
def test_stats_nests_the_programs_drops_in_the_datapaths_and_shows_rates(cli: Cli,
                                                                         bed: TestBed) -> None:
    """stfq at 5 Mbit/s, offered 20 Mbit/s of one flow: its own drops (flow_limit,
    queue_full) are admission drops, listed inside it, counted once; in and out carry
    bits and packets per second, from the deploying process's estimate."""
    flows = [Flow(size=1000, sport=11)]
    tables: list[str] = []

    def out_rate_shown() -> bool:  # the table itself, read while packets flow
        tables.append(cli.ok("stats", "st"))
        return OUT_RATE.search(tables[-1]) is not None

    with Receiver(bed), TrafficGen(bed, flows) as gen:
        cli.ok(*deploy_args(bed, "--detach", "--name", "st", "--rate", "5mbit"))
        sender = threading.Thread(target=gen.send, kwargs={
            "count": 20000, "rate_pps": 2500.0})  # 8 s at 20 Mbit/s: long on a loaded host
        sender.start()
        try:
            wait_for(lambda: (cli.stats("st")["rates"] or {}).get("out", {}).get("bps", 0) > 0)
            s = cli.stats("st")
            wait_for(out_rate_shown, seen=lambda: tables[-1])
            table = tables[-1]
        finally:
            sender.join()
        # The counts once every packet is through: read while packets arrive, the program's
        # reasons and the datapath's counters are two maps read one after the other.
        wait_for(lambda: cli.stats("st")["backlog"] == 0)
        s = {**cli.stats("st"), "rates": s["rates"]}
        assert "scheduler_drops" not in s
        adm = s["drops"]["admission"]
        assert set(adm["reasons"]) <= {"queue_full", "flow_limit"} and adm["reasons"]
        assert sum(r["packets"] for r in adm["reasons"].values()) == adm["packets"] > 0
        assert s["dropped"]["packets"] == sum(v["packets"] for v in s["drops"].values())
        assert s["rates"]["in"]["pps"] > 0 and s["rates"]["out"]["bps"] > 0
        assert "of which flow_limit" in table or "of which queue_full" in table
        cli.ok("down", "st")
    nothing_left(cli, bed)


@pytest.mark.kernel
def test_list_piped_is_not_cut_and_watch_ends_on_sigterm_with_its_table(cli: Cli,
                                                                        bed: TestBed) -> None:
    name = "a-long-name-to-see-list-cut-it"
    cli.ok(*deploy_args(bed, "--detach", "--name", name, "--param", "weight=1,2,3,4,5,6,7,8"))
    out = cli.ok("list")  # a pipe: not a terminal
    row = next(line for line in out.splitlines() if name in line)
    assert "weight=1,2,3,4,5,6,7,8" in row and len(row) > 80  # one line, not cut
    watch = cli.popen("stats", name, "--watch", "--interval", "0.2")
    wait_for(lambda: _catches(watch.pid, signal.SIGTERM))  # started, however loaded the host
    watch.send_signal(signal.SIGTERM)
    stdout, stderr = watch.communicate(timeout=30)
    assert watch.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "binding" in stdout and "transmitter" in stdout  # the last table stays
    cli.ok("down", name)
    nothing_left(cli, bed)


def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (its SigCgt mask in /proc)."""
    with open(f"/proc/{pid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    return bool(mask >> (sig - 1) & 1)
