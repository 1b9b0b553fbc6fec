"""The egress: whose it is, and what happens when it stops taking frames.

- Tracepoints see the devices of every namespace, and ifindexes repeat across
  namespaces: two beds whose egresses (and their peers) share an ifindex, a
  deployment on each, traffic on both at once. Each completes exactly what it
  sent (``napi_poll``); refusals on one, before its bulk queue
  (``xdp_redirect_err``: its peer lost XDP and GRO) and at the device
  (``xdp_devmap_xmit``: its peer is down), move none of the other's counters.
- An egress that stops taking frames mid-run: every refused frame is counted
  ``drop_xmit`` with its bytes and leaves BQL's bytes in flight; ``stats``,
  ``list`` and the log say so once, and once more when it takes frames again;
  the deployment never wedges, and sends again as soon as the egress takes
  frames.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from verbs import Cli, deploy_args, nothing_left, wait_for

from conftest import REPO
from xdpq.library import compile_library
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import DUT, RECEIVER, TestBed
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.runtime import report
from xdpq.runtime.deploy import Deployment

pytestmark = pytest.mark.kernel

FIFO = str(REPO / "schedulers/fifo.xdpq")
SIZE = 500
BURST = 800  # frames sent at once: fewer than the FIFO holds (1000), so none is dropped there
GRO_OFF = {"generic-receive-offload": 0}
GRO_ON = {"generic-receive-offload": 1}


def set_peer(bed: TestBed, state: str) -> None:
    subprocess.run(["ip", "-n", bed.ns[RECEIVER], "link", "set", "dev", "r0", state],
                   check=True)


@contextmanager
def deployed(bed: TestBed) -> Iterator[Deployment]:
    compiled = compile_library("fifo")
    with bed.enter(DUT):
        d = Deployment(compiled.obj_path, "in0", "out0", program=compiled.program)
    with d:
        yield d


def at_rest(d: Deployment) -> bool:
    s = d.stats()
    return s.backlog == 0 and s.staged == 0 and s.inflight == 0


def figures(d: Deployment) -> dict[str, Any]:
    """What a deployment's tracepoints move (and what it sent)."""
    s, e = d.stats(), report.egress_state(d.obj)
    return {"transmitted": s.counters["transmitted"], "drop_xmit": s.counters["drop_xmit"],
            "completed_bytes": s.completed_bytes, "inflight": s.inflight,
            "polls": d.obj.section(".bss")["xdpq_complete_polls"],
            "egress": {k: e[k] for k in ("refusing", "error", "last_refused")}}


def test_two_beds_whose_egresses_share_an_ifindex_keep_their_counters_apart() -> None:
    with TestBed() as a, TestBed() as b, ExitStack() as stack:
        # Each bed makes its own namespaces the same way: the ifindexes repeat.
        assert (a.ifindex("out0"), a.ifindex("r0")) == (b.ifindex("out0"), b.ifindex("r0"))
        assert a.ifindex("in0") != a.ifindex("out0")
        receivers = {bed.prefix: stack.enter_context(Receiver(bed)) for bed in (a, b)}
        gens = {bed.prefix: stack.enter_context(TrafficGen(bed, [Flow(size=SIZE)]))
                for bed in (a, b)}
        deps = {bed.prefix: stack.enter_context(deployed(bed)) for bed in (a, b)}

        # One at a time: the other's peer is never taken for its own (napi_poll).
        for one, other in ((a, b), (b, a)):
            before = figures(deps[other.prefix])
            assert gens[one.prefix].send(BURST) == BURST
            assert receivers[one.prefix].wait(BURST)
            wait_for(lambda d=deps[one.prefix]: at_rest(d))
            assert figures(deps[one.prefix])["polls"] > 0
            assert figures(deps[other.prefix]) == before
        # Both at once: each retires exactly the bytes it sent, no more.
        threads = [threading.Thread(target=gens[bed.prefix].send, args=(20_000,))
                   for bed in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for bed in (a, b):
            d = deps[bed.prefix]
            wait_for(lambda d=d: at_rest(d))
            f = figures(d)
            assert f["transmitted"].packets > 0 and f["drop_xmit"].packets == 0
            assert f["completed_bytes"] == f["transmitted"].bytes
            assert receivers[bed.prefix].received == f["transmitted"].packets > BURST
        before = figures(deps[b.prefix])

        # a's peer loses XDP and GRO: a's egress refuses before its bulk queue
        # (xdp_redirect_err, EOPNOTSUPP).
        receivers[a.prefix].close()
        a.set_offloads("r0", GRO_OFF)
        assert gens[a.prefix].send(1000) == 1000
        wait_for(lambda: at_rest(deps[a.prefix]))
        f = figures(deps[a.prefix])
        assert f["drop_xmit"].packets == 1000 and f["drop_xmit"].bytes == 1000 * SIZE
        assert f["egress"]["refusing"] and f["egress"]["error"] == "EOPNOTSUPP"
        assert figures(deps[b.prefix]) == before

        # a's peer takes frames again, then goes down: the device refuses them
        # (xdp_devmap_xmit, ENXIO).
        a.set_offloads("r0", GRO_ON)
        set_peer(a, "down")
        assert gens[a.prefix].send(1000) == 1000
        wait_for(lambda: at_rest(deps[a.prefix]))
        f = figures(deps[a.prefix])
        assert f["drop_xmit"].packets == 2000 and f["egress"]["error"] == "ENXIO"
        assert figures(deps[b.prefix]) == before
        set_peer(a, "up")


def refusal_logged(cli: Cli, name: str, text: str) -> bool:
    return text in (cli.run_dir / name / "log").read_text()


def test_an_egress_that_stops_taking_frames_is_counted_said_and_recovered(
        cli: Cli, bed: TestBed) -> None:
    name = "r"
    with ExitStack() as stack:
        rcv = stack.enter_context(Receiver(bed))
        gen = stack.enter_context(TrafficGen(bed, [Flow(size=SIZE)]))
        cli.ok(*deploy_args(bed, "--detach", "--name", name, file=FIFO))  # BQL adaptive

        def settled() -> dict[str, Any]:
            wait_for(lambda: (s := cli.stats(name))["backlog"] == s["staged"] == 0
                     and s["bql"]["inflight"] == 0)
            return cli.stats(name)

        def refusing() -> list[str]:
            return json.loads(cli.ok("list", "--json"))[0]["egress_refusing"]

        assert gen.send(1000) == 1000 and rcv.wait(1000)
        s = settled()
        assert s["out"]["packets"] == 1000 and not s["egress_state"]["refusing"]

        # The peer loses its XDP program and GRO mid-run: out0 no longer takes
        # redirected frames (the redirect fails before the bulk queue).
        rcv.close()
        bed.set_offloads("r0", GRO_OFF)
        assert gen.send(BURST) == BURST
        s = settled()  # it did not wedge: BQL let go of what was refused
        assert s["drops"]["xmit"] == {"packets": BURST, "bytes": BURST * SIZE}
        assert s["out"]["packets"] == 1000  # what the egress took
        e = s["egress_state"]
        assert e["refusing"] and e["error"] == "EOPNOTSUPP" and e["since"]
        wait_for(lambda: refusing() == ["out0 (EOPNOTSUPP)"])
        assert "refusing:" in cli.ok("list")  # the STATUS column (its words wrap)
        wait_for(lambda: refusal_logged(cli, name, "egress out0 refuses frames (EOPNOTSUPP) "
                                                   f"since {e['since']}"))
        assert "xdpq_egress_refusing" in cli.ok("stats", name, "--prometheus")

        # It takes frames again: everything sent from now on arrives.
        rcv = stack.enter_context(Receiver(bed))
        assert gen.send(1000) == 1000 and rcv.wait(1000)
        s = settled()
        assert s["out"]["packets"] == 2000 and s["drops"]["xmit"]["packets"] == BURST
        assert not s["egress_state"]["refusing"]
        wait_for(lambda: refusing() == [])
        wait_for(lambda: refusal_logged(cli, name, "egress out0 takes frames again"))

        # The peer goes down: the device refuses what it is given (ENXIO). The egress
        # itself stays up, so the deployment goes on.
        set_peer(bed, "down")
        assert gen.send(BURST) == BURST
        s = settled()
        assert s["drops"]["xmit"]["packets"] == 2 * BURST and s["out"]["packets"] == 2000
        assert s["egress_state"]["error"] == "ENXIO"
        wait_for(lambda: refusing() == ["out0 (ENXIO)"])
        set_peer(bed, "up")
        assert gen.send(1000) == 1000 and rcv.wait(2000)
        s = settled()
        assert s["out"]["packets"] == 3000 and s["bql"]["completed_bytes"] == 3000 * SIZE
        assert not s["egress_state"]["refusing"]
        assert s["in"]["packets"] == 3000 + 2 * BURST
        wait_for(lambda: (log := (cli.run_dir / name / "log").read_text()).count(
            "takes frames again") == 2 and log.count("refuses frames") == 2)
        cli.ok("down", name)
    nothing_left(cli, bed)
