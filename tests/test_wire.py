"""xdpq as a bump in the wire between two unmodified hosts.

The bed's sender and receiver are in one subnet with nothing static: they find
each other with ARP, which crosses a deployment like any frame (not claimed by
the scheduler: through the bypass FIFO, counted ``forward_unclaimed``). With
both directions scheduled — one ``--both`` deployment, or a deployment and its
exact reverse — an ordinary ``ping`` and an ``iperf3`` TCP transfer work, and
each direction's counters add up. With one direction only, ARP's reply has no
way back. The real command line runs everything (``tests/verbs.py``).
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from verbs import Cli, deploy_args, nothing_left, refused, wait_for

from conftest import REPO
from xdpq.ir.outcomes import ARRIVAL_DROPS, QUEUE_DROPS, STORED
from xdpq.library import compile_library
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import DUT, SENDER, TestBed
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.runtime.deploy import Deployment
from xdpq.testing.hosts import iperf, iperf_server, ping

pytestmark = pytest.mark.kernel

FIFO = str(REPO / "schedulers/fifo.xdpq")
SECONDS = 3


def tcp_transfer(bed: TestBed) -> dict[str, Any]:
    """An iperf3 TCP test from the sender to the receiver: its JSON report."""
    with iperf_server(bed):
        return iperf(bed, SECONDS)


def settled(s: dict[str, Any]) -> bool:
    return s["backlog"] == 0 and s["staged"] == 0 and s["bql"]["inflight"] == 0


def adds_up(s: dict[str, Any]) -> None:
    """One direction of a deployment, at rest: every frame it saw was stored (scheduled or
    forwarded unclaimed) or dropped on arrival, and everything stored went out."""
    c = {**{f"drop_{k}": v["packets"] for k, v in s["drops"].items()},
         **{f"forward_{k}": v["packets"] for k, v in s["forwards"].items()},
         **{f"pass_{k}": v["packets"] for k, v in s["passes"].items()},
         "enqueued": s["enqueued"]["packets"], "dequeued": s["dequeued"]["packets"]}
    stored = sum(c[k] for k in STORED)
    assert s["in"]["packets"] == stored + sum(c[k] for k in ARRIVAL_DROPS)
    assert sum(v["packets"] for v in s["passes"].values()) == 0  # nothing to the DUT's stack
    assert stored == c["dequeued"] + sum(c[k] for k in QUEUE_DROPS)
    assert c["dequeued"] == s["out"]["packets"]
    assert s["drops"]["xmit"]["packets"] == 0 and not s["egress_state"]["refusing"]
    assert s["bql"]["completed_bytes"] == s["out"]["bytes"]  # every byte the egress took


def check_both_ways(cli: Cli, bed: TestBed, forward: str, reverse: str) -> None:
    """Ping and TCP through the deployments ``forward`` (in0 → out0) and ``reverse``
    (out0 → in0; may be the same --both deployment, whose stats hold it under
    "reverse")."""
    p = ping(bed)
    assert p.returncode == 0 and " 0% packet loss" in p.stdout, p.stdout + p.stderr
    report = tcp_transfer(bed)
    received = report["end"]["sum_received"]["bytes"]
    assert received > 1_000_000

    def both() -> tuple[dict[str, Any], dict[str, Any]]:
        f = cli.stats(forward)
        return f, f["reverse"] if reverse == forward else cli.stats(reverse)

    wait_for(lambda: all(settled(s) for s in both()), seen=lambda: [
        (s["backlog"], s["staged"], s["bql"]) for s in both()])
    there, back = both()
    for s in (there, back):
        adds_up(s)
        assert s["forwards"]["unclaimed"]["packets"] >= 1  # ARP: a request, a reply
    # TCP's segments went there, its ACKs came back.
    assert there["out"]["bytes"] > received > back["out"]["bytes"] > 0


def test_ping_and_tcp_through_one_deployment_of_both_directions(cli: Cli,
                                                                bed: TestBed) -> None:
    out = cli.ok(*deploy_args(bed, "--both", "--detach", "--name", "w", file=FIFO))
    assert "runs fifo on in0 ⇄ out0" in out
    listed = json.loads(cli.ok("list", "--json"))
    assert [(d["name"], d["both"], d["egress_refusing"]) for d in listed] == [("w", True, [])]
    check_both_ways(cli, bed, "w", "w")
    s = cli.stats("w")
    assert (s["ingress"], s["egress"]) == ("in0", "out0")
    assert (s["reverse"]["ingress"], s["reverse"]["egress"]) == ("out0", "in0")
    prom = cli.ok("stats", "w", "--prometheus")
    assert 'xdpq_out_packets_total{deployment="w",direction="reverse"}' in prom
    assert "in0 ⇄ out0" in cli.ok("list")
    assert "nothing left" in cli.ok("down", "w")
    nothing_left(cli, bed)


def test_ping_and_tcp_through_a_deployment_and_its_exact_reverse(cli: Cli,
                                                                 bed: TestBed) -> None:
    cli.ok(*deploy_args(bed, "--detach", "--name", "there", file=FIFO))
    # One direction only: the ARP request crosses, the reply has no way back.
    p = ping(bed, count=1)
    assert p.returncode != 0
    s = cli.stats("there")
    assert s["forwards"]["unclaimed"]["packets"] >= 1
    # The exact reverse is accepted, each direction its own program...
    cli.ok("deploy", FIFO, "--in", "out0", "--out", "in0", "--netns", bed.ns["dut"],
           "--detach", "--name", "back")
    # ... and nothing else that overlaps.
    refused(cli(*deploy_args(bed, "--name", "again", file=FIFO)), "in use",
            "'there'", "exact reverse")
    refused(cli(*deploy_args(bed, "--both", "--name", "again", file=FIFO)), "in use")
    check_both_ways(cli, bed, "there", "back")
    for name in ("back", "there"):
        cli.ok("down", name)
    nothing_left(cli, bed)


def test_unclaimed_stack_keeps_arp_off_the_wire(cli: Cli, bed: TestBed) -> None:
    """``--unclaimed stack``: what the scheduler does not claim goes to the DUT's stack
    (which, a bump with no address, drops it): the hosts cannot resolve each other."""
    cli.ok(*deploy_args(bed, "--both", "--unclaimed", "stack", "--detach", "--name", "s",
                        file=FIFO))
    assert ping(bed, count=1).returncode != 0
    s = cli.stats("s")
    assert s["passes"]["unclaimed"]["packets"] >= 1
    assert s["forwards"]["unclaimed"]["packets"] == 0
    assert json.loads(cli.ok("list", "--json"))[0]["unclaimed"] == "stack"
    cli.ok("down", "s")
    nothing_left(cli, bed)


def test_an_unclaimed_frame_does_not_wait_behind_a_paced_queue(bed: TestBed) -> None:
    """tbf at 1 kbit/s: after the first frame, each 1000-byte frame of the backlog is
    eligible only seconds after the one before (the timer waits for it). A frame the
    scheduler does not claim, sent meanwhile, re-arms the timer and goes out at once,
    ahead of them (the bypass FIFO is served first)."""
    compiled = compile_library("tbf")
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=1000)]) as gen:
        with bed.enter(DUT):
            d = Deployment(compiled.obj_path, "in0", "out0", program=compiled.program,
                           params={"rate": 1000, "burst": 1500})
        with d:
            assert gen.send(10) == 10
            assert rcv.wait(1)
            wait_for(lambda: d.stats().backlog == 9)
            frame = (bytes.fromhex(bed.mac("r0").replace(":", "")
                                   + bed.mac("s0").replace(":", "")) + b"\x88\xb5"
                     + bytes(46))  # a local experimental ethertype: not IP
            with bed.enter(SENDER), socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
                raw.bind(("s0", 0))
                raw.send(frame)
            wait_for(lambda: rcv.other == 1)
            assert d.stats().counters["forward_unclaimed"].packets == 1
            assert (rcv.received, d.stats().backlog) == (1, 9)  # the paced ones still wait
