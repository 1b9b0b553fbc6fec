"""The product verbs end to end: xdpq deploy, stats, set, down, list, as a user runs them.

Each test runs the real command line (``python -m xdpq.cli``) in subprocesses
against a veth test bed, with the registry moved to a private run directory
and pin root (``XDPQ_RUN_DIR``, ``XDPQ_PIN_DIR``), and checks that a refusal
names the problem and the fix, exits non-zero, and leaves nothing attached,
pinned or recorded. Whatever a test started is stopped and removed by its
fixtures, also when it fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pyroute2 import NetNS
from verbs import DRR, STFQ, Cli, alive, deploy_args, nothing_left, refused, wait_for, xdp_attached

from conftest import REPO
from xdpq.bpf import compile_bpf
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import DUT, RECEIVER, TestBed
from xdpq.net.trafficgen import Flow, TrafficGen

pytestmark = pytest.mark.kernel


# -- refusals ------------------------------------------------------------------------------


def test_refuses_a_missing_interface(cli: Cli, bed: TestBed) -> None:
    r = cli("deploy", STFQ, "--in", "nope0", "--out", "out0", "--netns", bed.ns[DUT])
    refused(r, f"'nope0' does not exist in network namespace '{bed.ns[DUT]}'",
            f"(ip -n {bed.ns[DUT]} link show)")
    nothing_left(cli, bed)


def test_an_interface_in_another_namespace_is_named_with_the_option_to_reach_it(
        cli: Cli, bed: TestBed) -> None:
    with NetNS(bed.ns[RECEIVER]) as ns:  # a name no other namespace has
        ns.link("set", index=ns.link_lookup(ifname="r0")[0], ifname=f"{bed.prefix}r0")
    r = cli("deploy", STFQ, "--in", f"{bed.prefix}r0", "--out", "out0")
    refused(r, f"interface '{bed.prefix}r0' does not exist in this network namespace, but "
               f"network namespace '{bed.ns[RECEIVER]}' has one: add --netns "
               f"{bed.ns[RECEIVER]}")
    nothing_left(cli, bed)


def test_refuses_an_interface_that_is_down(cli: Cli, bed: TestBed) -> None:
    with NetNS(bed.ns[DUT]) as ns:
        ns.link("set", index=ns.link_lookup(ifname="in0")[0], state="down")
    refused(cli(*deploy_args(bed)), "in0", "is down", f"ip -n {bed.ns[DUT]} link set dev in0 up")
    nothing_left(cli, bed)


def test_refuses_an_egress_whose_driver_cannot_take_redirected_frames(
        cli: Cli, bed: TestBed) -> None:
    # No receiver, and GRO off: r0, the peer of out0, has neither an XDP program nor GRO.
    bed.set_offloads("r0", {"generic-receive-offload": 0})
    msg = refused(cli(*deploy_args(bed)), "out0", "ndo-xmit", "XDP program", "GRO")
    assert f"ip netns exec {bed.ns[RECEIVER]} ethtool -K r0 gro on" in msg
    nothing_left(cli, bed)


def test_refuses_an_ingress_with_an_xdp_program_unless_told_to_replace_it(
        cli: Cli, bed: TestBed) -> None:
    obj = compile_bpf(REPO / "kern/test/forward.bpf.c")
    subprocess.run(["ip", "-n", bed.ns[DUT], "link", "set", "dev", "in0", "xdpgeneric", "obj",
                    str(obj), "sec", "xdp"], check=True)
    with Receiver(bed):
        msg = refused(cli(*deploy_args(bed)), "in0", "already has an XDP program", "--replace")
        assert "xdpgeneric off" in msg
        assert cli.records() == []
        out = cli.ok(*deploy_args(bed, "--replace", "--detach", "--name", "rep"))
        assert "'rep' runs stfq" in out
        cli.ok("down", "rep")
    nothing_left(cli, bed)  # the old program was replaced, and ours is gone too


@pytest.mark.parametrize(("param", "words"), [
    ("speed=3", ("no parameter 'speed'", "quantum")),
    ("quantum=5ms", ("'quantum' is a size", "quantum=1514B")),
    ("quantum=10B", ("outside the range", "64B..65536B")),
    ("quantum=lots", ("not a number", "quantum=1514B")),
])
def test_refuses_bad_parameters(cli: Cli, param: str, words: tuple[str, ...]) -> None:
    refused(cli("deploy", DRR, "--in", "lo", "--out", "lo", "--param", param), *words)
    nothing_left(cli)


def test_refuses_bad_table_parameters(cli: Cli) -> None:
    args = ("deploy", STFQ, "--in", "lo", "--out", "lo", "--param")
    refused(cli(*args, "weight=1,2,3"), "table of 8 values, got 3")
    refused(cli(*args, "weight[9]=2"), "entries 0..7")
    refused(cli(*args, "weight[1]=0"), "outside the range", "1..1000")
    nothing_left(cli)


def test_refuses_without_privileges(cli: Cli, bed: TestBed) -> None:
    drop = ("capsh", "--drop=cap_net_admin,cap_bpf,cap_perfmon,cap_sys_admin", "--")
    args = " ".join(cli.argv(*deploy_args(bed)))
    r = subprocess.run([*drop, "-c", args], env=cli.env, capture_output=True, text=True,
                       timeout=60, cwd=REPO)
    refused(r, "not allowed", "CAP_NET_ADMIN", "run it as root")
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    r = subprocess.run([*nobody, *cli.argv(*deploy_args(bed))], env=cli.env,
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    refused(r, "not allowed", "uid 65534", "lacks CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON")
    nothing_left(cli, bed)


def test_refuses_a_taken_name_and_interfaces_in_use(cli: Cli, bed: TestBed) -> None:
    with Receiver(bed):
        cli.ok(*deploy_args(bed, "--detach", "--name", "first"))
        before = sorted(cli.records())
        refused(cli(*deploy_args(bed, "--detach", "--name", "first")),
                "'first' is running", "xdpq down first")
        refused(cli(*deploy_args(bed, "--detach", "--name", "second")),
                "in0 in network namespace", "in use by xdpq deployment 'first'",
                "xdpq down first")
        assert sorted(cli.records()) == before  # the refusals changed nothing
        cli.ok("down", "first")
    nothing_left(cli, bed)


# -- the life of a detached deployment ------------------------------------------------------


def _shares(arrivals: list, n: int) -> float:
    first = arrivals[:n]
    return sum(a.len for a in first if a.flow == 1) / sum(a.len for a in first)


def test_detached_deploy_stats_set_shares_move_nothing_lost_down(cli: Cli, bed: TestBed) -> None:
    flows = [Flow(size=500, dscp=0, sport=1), Flow(size=500, dscp=8, sport=2)]  # classes 0, 1
    with Receiver(bed) as rcv, TrafficGen(bed, flows) as gen:
        # held (fixed:0) so that each burst is one standing backlog when released
        out = cli.ok(*deploy_args(bed, "--detach", "--name", "w", "--bql", "fixed:0"))
        assert "in the background" in out
        st = json.loads(cli.ok("list", "--json"))
        assert [(s["name"], s["running"], s["ingress"], s["egress"]) for s in st] == \
            [("w", True, "in0", "out0")]
        pid = st[0]["pid"]
        state_file = cli.run_dir / "w" / "state.json"
        assert oct(state_file.stat().st_mode & 0o777) == "0o600"
        assert oct((cli.pin_dir / "w").stat().st_mode & 0o777) == "0o700"

        sent = [0, 0]
        for phase, weights in enumerate(("1,1,1,1,1,1,1,1", "1,3,1,1,1,1,1,1")):
            cli.ok("set", "w", f"weight={weights}", "--bql", "fixed:0")
            got = gen.send(2000)
            sent = [a + b for a, b in zip(sent, got.per_flow, strict=True)]
            wait_for(lambda: cli.stats("w")["backlog"] == 2000)
            s = cli.stats("w")
            assert s["queues"]["q"]["packets"] == 2000
            assert s["queues"]["q"]["bytes"] == 2000 * 500
            assert s["bql"]["mode"] == "fixed" and s["bql"]["limit"] == 0
            assert s["params"]["weight"] == weights
            cli.ok("set", "w", "--bql", "adaptive")
            assert rcv.wait(2000 * (phase + 1))
        arrivals = rcv.arrivals()
        assert abs(_shares(arrivals[:2000], 1000) - 1 / 2) <= 0.03
        assert abs(_shares(arrivals[2000:], 1000) - 3 / 4) <= 0.03  # the shares moved

        wait_for(lambda: cli.stats("w")["staged"] == 0)
        s = cli.stats("w")
        assert s["in"]["packets"] == sum(sent) == 4000
        dropped = sum(v["packets"] for v in s["drops"].values())
        passed = sum(v["packets"] for v in s["passes"].values())
        assert sum(sent) == rcv.received + dropped + passed + gen.refused
        assert dropped == passed == 0 and rcv.received == 4000  # not a packet lost
        assert s["out"] == {"packets": 4000, "bytes": 4000 * 500}
        assert s["transmitter"]["batches"] > 0

        families = {f.name: f for f in text_string_to_metric_families(
            cli.ok("stats", "w", "--prometheus"))}
        assert families["xdpq_out_packets"].samples[0].value == 4000
        assert {s.labels["reason"] for s in families["xdpq_drops"].samples} >= {
            "queue_full", "no_slot", "aqm", "shutdown"}
        weights = {s.labels["index"]: s.value for s in families["xdpq_param"].samples
                   if s.labels["param"] == "weight"}
        assert weights["1"] == 3 and weights["0"] == 1

        listed = json.loads(cli.ok("list", "--json"))
        assert listed[0]["params"] == {"weight": "1,3,1,1,1,1,1,1", "flow_limit": "1048576B"}

        assert "nothing left" in cli.ok("down", "w")
    assert not alive(pid)
    nothing_left(cli, bed)


def test_stats_listen_serves_prometheus_text(cli: Cli, bed: TestBed) -> None:
    with Receiver(bed):
        cli.ok(*deploy_args(bed, "--detach", "--name", "m"))
        server = cli.popen("stats", "m", "--listen", "127.0.0.1:0")
        assert server.stdout is not None
        line = server.stdout.readline()
        url = line.split()[1]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"xdpq_up", "xdpq_in_packets", "xdpq_queue_packets", "xdpq_bql_limit_bytes"} <= names
        server.terminate()
        server.wait(10)
        cli.ok("down", "m")
    nothing_left(cli, bed)


def test_foreground_deploy_runs_until_sigterm_and_leaves_nothing(cli: Cli, bed: TestBed) -> None:
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=200)]) as gen:
        p = cli.popen(*deploy_args(bed, "--name", "fg", "--param", "weight=2"))
        assert p.stdout is not None
        assert "'fg' runs stfq on in0 → out0" in p.stdout.readline()
        listed = json.loads(cli.ok("list", "--json"))
        assert listed[0]["detached"] is False and listed[0]["running"] is True
        gen.send(500)
        assert rcv.wait(500)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert "500 packets sent" in out
    nothing_left(cli, bed)


def test_down_after_the_process_was_killed_removes_its_records(cli: Cli, bed: TestBed) -> None:
    with Receiver(bed):
        cli.ok(*deploy_args(bed, "--detach", "--name", "k"))
        pid = json.loads(cli.ok("list", "--json"))[0]["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not alive(pid))
        wait_for(lambda: not xdp_attached(bed), 5)  # its bpf_link went with it
        assert "dead" in cli.ok("list")
        refused(cli("stats", "k"), "not running", "xdpq down k")
        assert "removed" in cli.ok("down", "k")
    nothing_left(cli, bed)
    refused(cli("down", "k"), "no deployment named 'k'")
