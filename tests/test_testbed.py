"""The veth test bed: built, used, and always removed."""

from __future__ import annotations

import subprocess
import time

import pytest

from xdpq.net.receiver import Receiver
from xdpq.net.testbed import TestBed
from xdpq.net.trafficgen import Flow, TrafficGen, pattern

pytestmark = pytest.mark.kernel


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_two_beds_coexist_and_vanish_even_on_error() -> None:
    with pytest.raises(RuntimeError), TestBed() as a, TestBed() as b:
        assert a.prefix != b.prefix
        listed = namespaces()
        assert all(ns in listed for ns in (*a.ns.values(), *b.ns.values()))
        raise RuntimeError("a test failing inside the bed")
    listed = namespaces()
    assert a.prefix not in listed and b.prefix not in listed


def test_generated_frames_arrive_with_their_sizes_and_in_sequence() -> None:
    flows = [Flow(size=80, dscp=10, sport=5), Flow(size=1500, dscp=46, sport=6, weight=3)]
    with TestBed() as bed, Receiver(bed) as rcv, TrafficGen(bed, flows) as gen:
        fwd = subprocess.run(  # a plain forwarder on the DUT: in0 → out0
            ["ip", "-n", bed.ns["dut"], "link", "set", "in0", "xdp", "obj",
             _forwarder(bed), "sec", "xdp"], capture_output=True, text=True)
        assert fwd.returncode == 0, fwd.stderr
        assert gen.send(4000) == 4000
        deadline = time.monotonic() + 10
        while rcv.received < 4000 and time.monotonic() < deadline:
            time.sleep(0.005)
        arrivals = rcv.arrivals()
        assert gen.sent() == [1000, 3000]
        assert rcv.counts(2) == [(1000, 80 * 1000), (3000, 1500 * 3000)]
    for flow in (0, 1):
        seqs = [a.seq for a in arrivals if a.flow == flow]
        assert seqs == list(range(len(seqs)))
    assert all(a.latency_ns > 0 for a in arrivals)
    assert pattern(flows) == [0, 1, 1, 1]


def _forwarder(bed: TestBed) -> str:
    from conftest import REPO
    from xdpq.bpf import compile_bpf

    return str(compile_bpf(REPO / "kern/test/forward.bpf.c",
                           {"FORWARD_TO": bed.ports["out0"].ifindex}))
