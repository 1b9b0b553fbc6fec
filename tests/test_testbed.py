"""The veth test bed, its traffic generator and its receiver: built, used, always removed."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from contextlib import suppress
from pathlib import Path

import pytest
from pyroute2.ethtool import Ethtool
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from conftest import REPO
from xdpq.bpf import xdp_ctx
from xdpq.bpf.program import XDP_REDIRECT
from xdpq.errors import XdpqError
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import DUT, RECEIVER, ROLES, SENDER, TestBed, live_beds, reap_stale_beds
from xdpq.net.trafficgen import Flow, TrafficGen, parse_probe, pattern
from xdpq.testing.forward import plain_forward

pytestmark = pytest.mark.kernel

FLOWS = [
    Flow(size=80, dscp=10, sport=5, dport=7000),
    Flow(size=1500, dscp=46, sport=6, dport=7001, weight=3),
    Flow(size=64, dscp=0, sport=7, dport=7002, weight=2),
]


def netns_list() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                          check=True).stdout


def root_links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                          check=True).stdout


def ns_inode(path: str) -> int:
    return os.stat(path).st_ino


def thread_ns() -> int:
    return ns_inode("/proc/thread-self/ns/net")


def net_namespaces_in_use() -> set[int]:
    """Inodes of the network namespaces any thread of any process is in."""
    out = set()
    for task in Path("/proc").glob("[0-9]*/task/[0-9]*/ns/net"):
        with suppress(OSError):  # gone meanwhile
            out.add(os.stat(task).st_ino)
    return out


def assert_removed(bed: TestBed, inodes: set[int]) -> None:
    listed = netns_list()
    assert bed.prefix not in listed
    assert bed.prefix not in live_beds()
    assert not any(Path(bed.ns_path(r)).exists() for r in ROLES)
    assert not inodes & net_namespaces_in_use()  # no thread of anyone kept one alive
    links = root_links()
    assert not any(f" {name}@" in links or f" {name}:" in links
                   for name in ("s0", "in0", "out0", "r0"))


def test_bed_is_built_as_described_and_fully_removed() -> None:
    before = netns_list()
    with TestBed() as bed:
        inodes = {ns_inode(bed.ns_path(r)) for r in ROLES}
        listed = netns_list()
        assert all(bed.ns[r] in listed and bed.ns[r] not in before for r in ROLES)
        for port, role in (("s0", SENDER), ("in0", DUT), ("out0", DUT), ("r0", RECEIVER)):
            p = bed.ports[port]
            shown = subprocess.run(["ip", "-n", bed.ns[role], "-o", "-4", "addr", "show", port],
                                   capture_output=True, text=True, check=True).stdout
            # One subnet for the hosts; none in the DUT, a bump in the wire.
            assert (f"inet {p.ip}/24" in shown) if p.ip else shown == ""
            link = subprocess.run(["ip", "-n", bed.ns[role], "-o", "link", "show", port],
                                  capture_output=True, text=True, check=True).stdout
            assert f"{port}@" in link and ",UP," in link and p.mac in link
            assert link.startswith(f"{p.ifindex}:")
        assert (bed.ports["s0"].ip, bed.ports["r0"].ip) == (bed.address(1), bed.address(2))
        for role, port in ((SENDER, "s0"), (RECEIVER, "r0")):
            neigh = subprocess.run(["ip", "-n", bed.ns[role], "neigh", "show", "dev", port],
                                   capture_output=True, text=True, check=True).stdout
            assert neigh == ""  # nothing static: ARP finds the other host
            with bed.enter(role):
                et = Ethtool()
                try:
                    features = et.get_features(port).features
                finally:
                    et.close()
            # What the bed turns off and on (docs/deploy.md, Checksums)
            assert not features["tx-checksum-ip-generic"].enable
            assert features["rx-gro"].enable
    assert_removed(bed, inodes)


def test_bed_is_removed_when_the_body_raises_and_handlers_come_back() -> None:
    term, intr = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(RuntimeError, match="failing inside"), TestBed() as bed:
        inodes = {ns_inode(bed.ns_path(r)) for r in ROLES}
        assert signal.getsignal(signal.SIGTERM) != term
        raise RuntimeError("a test failing inside the bed")
    assert_removed(bed, inodes)
    assert signal.getsignal(signal.SIGTERM) is term
    assert signal.getsignal(signal.SIGINT) is intr


CHILD = """
import sys, time
from xdpq.net.testbed import TestBed
with TestBed() as bed:
    print(bed.prefix, flush=True)
    time.sleep(120)
print("unreachable", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_bed_is_removed_when_its_process_gets_a_signal(sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    prefix = ""
    try:
        assert proc.stdout is not None
        prefix = proc.stdout.readline().strip()
        assert prefix.startswith("xq") and prefix in netns_list(), proc.stderr
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=60)
        assert "unreachable" not in rest
        assert proc.returncode != 0  # it died of the signal, by way of clean-up
        assert prefix not in netns_list(), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for role in ROLES:  # whatever it left behind, if it failed
            if prefix and f"{prefix}-{role}" in netns_list():
                subprocess.run(["ip", "netns", "del", f"{prefix}-{role}"], check=False)


def test_sigkill_leaves_the_bed_behind_and_the_reaper_removes_only_dead_owners_beds() -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    prefix = ""
    try:
        with TestBed() as mine:
            assert proc.stdout is not None
            prefix = proc.stdout.readline().strip()
            proc.kill()  # no handler runs
            proc.communicate(timeout=60)
            assert prefix.startswith("xq") and prefix in live_beds()
            assert prefix in reap_stale_beds()
            assert prefix not in live_beds() and prefix not in netns_list()
            assert mine.prefix in live_beds()  # a live process's bed stays
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for role in ROLES:
            if prefix and f"{prefix}-{role}" in netns_list():
                subprocess.run(["ip", "netns", "del", f"{prefix}-{role}"], check=False)


def test_enter_moves_only_the_calling_thread_and_threads_started_inside_inherit() -> None:
    home = thread_ns()
    seen: dict[str, int] = {}
    with TestBed() as bed:
        rcv_ns, snd_ns = ns_inode(bed.ns_path(RECEIVER)), ns_inode(bed.ns_path(SENDER))
        barrier = threading.Barrier(2)

        def other_thread() -> None:
            with bed.enter(SENDER):
                barrier.wait()  # both threads inside their namespaces at once
                seen["other"] = thread_ns()
                barrier.wait()

        t = threading.Thread(target=other_thread)
        t.start()
        with bed.enter(RECEIVER):
            child = threading.Thread(target=lambda: seen.__setitem__("child", thread_ns()))
            child.start()
            child.join()
            barrier.wait()
            seen["caller"] = thread_ns()
            barrier.wait()
        t.join()
        seen["after"] = thread_ns()
    assert seen == {"child": rcv_ns, "other": snd_ns, "caller": rcv_ns, "after": home}


def test_generated_frames_are_well_formed_udp_with_their_size_dscp_and_ports(
        bed: TestBed) -> None:
    """Run the generator without live frames: the kernel hands the frames back."""
    with TrafficGen(bed, FLOWS) as gen:
        prog = gen.obj.prog("xdpq_trafficgen")
        template = TrafficGen.template_for(bed, max(f.size for f in FLOWS))
        order = pattern(FLOWS)
        seqs: Counter[int] = Counter()
        for i in range(2 * len(order)):
            res = prog.run(template, ctx=xdp_ctx(len(template)))
            assert res.retval == XDP_REDIRECT
            flow_id, seq, tstamp = parse_probe(res.data)
            assert flow_id == order[i % len(order)] and seq == seqs[flow_id] and tstamp > 0
            seqs[flow_id] += 1
            f = FLOWS[flow_id]
            pkt = Ether(res.data)
            assert len(res.data) == f.size
            assert pkt.dst == bed.ports["r0"].mac and pkt.src == bed.ports["s0"].mac
            ip, udp = pkt[IP], pkt[UDP]
            assert (ip.src, ip.dst) == (bed.ports["s0"].ip, bed.ports["r0"].ip)
            assert ip.ihl == 5 and ip.len == f.size - 14 and ip.tos == f.dscp << 2
            rebuilt = ip.copy()
            rebuilt.chksum = None
            assert IP(bytes(rebuilt)).chksum == ip.chksum  # the checksum is right
            assert (udp.sport, udp.dport, udp.len) == (f.sport, f.dport, f.size - 34)
        assert gen.sent() == [seqs[i] for i in range(len(FLOWS))]


def test_frames_arrive_exactly_in_sequence_per_flow_as_configured(bed: TestBed) -> None:
    n = 12_000  # two rounds of the pattern per 12 frames
    with Receiver(bed) as rcv, TrafficGen(bed) as gen, plain_forward(bed):
        sent = gen.send(FLOWS, count=n)
        assert sent == n and not sent.timed_out
        assert sent.per_flow == (2000, 6000, 4000)
        assert rcv.wait(n - gen.refused)
        arrivals = rcv.arrivals()
        counts = rcv.counts()
        latencies = rcv.latencies(1)
        assert (gen.refused, rcv.other, rcv.received) == (0, 0, n)
    assert counts == {i: (k, k * f.size)
                      for i, (k, f) in enumerate(zip(sent.per_flow, FLOWS, strict=True))}
    for i, f in enumerate(FLOWS):
        mine = [a for a in arrivals if a.flow == i]
        assert [a.seq for a in mine] == list(range(sent.per_flow[i]))  # complete, in order
        assert {(a.len, a.dscp, a.sport, a.dport) for a in mine} == {
            (f.size, f.dscp, f.sport, f.dport)}
        assert all(a.latency_ns > 0 for a in mine)
    assert latencies == [a.latency_ns for a in arrivals if a.flow == 1]


def test_a_slow_receiver_takes_a_frame_per_cost_polled_in_its_own_thread(bed: TestBed) -> None:
    # Each frame holds r0's poll for the cost from its arrival, on the receiver's own
    # clock: the next one is stamped no sooner. Nothing is lost, only slowed.
    cost, n = 20_000, 200
    with Receiver(bed, cost_ns=cost) as rcv, TrafficGen(bed) as gen, plain_forward(bed):
        assert gen.send([Flow(size=1500)], count=n) == n
        got = n - gen.refused
        assert rcv.wait(got)
        stamps = [a.at_ns for a in rcv.arrivals()]
        threaded = subprocess.run(
            ["ip", "netns", "exec", bed.ns[RECEIVER], "cat", "/sys/class/net/r0/threaded"],
            capture_output=True, text=True, check=True).stdout.strip()
    assert len(stamps) == got > 0
    assert min(b - a for a, b in itertools.pairwise(stamps)) >= cost
    assert threaded == "1"


def test_count_bound_is_exact_and_sequence_numbers_continue_across_sends(
        bed: TestBed) -> None:
    order = pattern(FLOWS)
    with Receiver(bed) as rcv, TrafficGen(bed, FLOWS) as gen, plain_forward(bed):
        first = gen.send(count=1237, batch=17)  # neither a round nor a batch
        second = gen.send(FLOWS, count=500)  # the same flows: the stream goes on
        none = gen.send(0)
        assert rcv.wait(1737 - gen.refused)
        arrivals = rcv.arrivals()
        assert gen.refused == 0
    expected = Counter(order[i % len(order)] for i in range(1237))
    assert first == 1237 and first.per_flow == tuple(expected[i] for i in range(3))
    expected_all = Counter(order[i % len(order)] for i in range(1737))
    assert tuple(a + b for a, b in zip(first.per_flow, second.per_flow, strict=True)) == tuple(
        expected_all[i] for i in range(3))
    assert none == 0 and none.per_flow == (0, 0, 0)
    assert len(arrivals) == 1737
    for i in range(3):
        assert [a.seq for a in arrivals if a.flow == i] == list(range(expected_all[i]))


def test_new_flows_start_their_sequence_numbers_over(bed: TestBed) -> None:
    with Receiver(bed) as rcv, TrafficGen(bed, FLOWS) as gen, plain_forward(bed):
        gen.send(count=100)
        sent = gen.send([Flow(size=200, dscp=8)], count=50)
        assert rcv.wait(150)
        tail = rcv.arrivals()[100:]
    assert sent.per_flow == (50,)
    assert [(a.flow, a.seq, a.len, a.dscp) for a in tail] == [(0, s, 200, 8) for s in range(50)]


def test_time_bound_stops_a_paced_send_and_every_frame_sent_arrives(bed: TestBed) -> None:
    rate, count = 4000.0, 10**9
    with Receiver(bed) as rcv, TrafficGen(bed, FLOWS) as gen, plain_forward(bed):
        sent = gen.send(count=count, rate_pps=rate, timeout_s=0.25)
        assert rcv.wait(sent)
        assert rcv.received == sent and gen.refused == 0
    assert sent.timed_out and 0 < sent < count
    # Paced: a call of rate/1000 frames starts only once the schedule allows it.
    assert sent <= rate * sent.elapsed_s + rate / 1000


def test_time_bound_stops_an_unpaced_send(bed: TestBed) -> None:
    with Receiver(bed), TrafficGen(bed, [Flow()]) as gen, plain_forward(bed):
        sent = gen.send(count=10**12, timeout_s=0.1)
    assert sent.timed_out and 0 < sent < 10**12


def test_two_beds_coexist_with_their_own_names_addresses_and_traffic() -> None:
    with TestBed() as a, TestBed() as b:
        assert a.prefix != b.prefix and a.subnet != b.subnet
        assert a.ports["s0"].ip != b.ports["s0"].ip
        listed = netns_list()
        assert all(ns in listed for ns in (*a.ns.values(), *b.ns.values()))
        with Receiver(a) as ra, Receiver(b) as rb, TrafficGen(a, [Flow(size=100)]) as ga, \
                TrafficGen(b, [Flow(size=300), Flow(size=400)]) as gb, plain_forward(a), \
                plain_forward(b):
            sa = ga.send(count=3000)
            sb = gb.send(count=2000)
            assert ra.wait(3000) and rb.wait(2000)
            assert ra.counts() == {0: (3000, 300_000)}
            assert rb.counts() == {0: (1000, 300_000), 1: (1000, 400_000)}
            assert (sa, sb, ga.refused, gb.refused) == (3000, 2000, 0, 0)
    assert a.prefix not in netns_list() and b.prefix not in netns_list()


def test_without_a_program_on_in0_the_sender_counts_refused_frames(bed: TestBed) -> None:
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow()]) as gen:
        sent = gen.send(count=500)
        refused, received = gen.refused, rcv.received
    assert (sent, refused, received) == (500, 500, 0)


def test_flow_and_send_arguments_are_checked(bed: TestBed) -> None:
    with TrafficGen(bed) as gen:
        with pytest.raises(XdpqError, match="no flows"):
            gen.send(count=1)
        for bad in (Flow(size=63), Flow(size=1515), Flow(dscp=64), Flow(weight=0)):
            with pytest.raises(XdpqError):
                gen.send([bad], count=1)
        with pytest.raises(XdpqError, match="batch"):
            gen.send([Flow()], count=1, batch=257)
        with pytest.raises(XdpqError, match="weights"):
            pattern([Flow(weight=600), Flow(weight=600)])
    assert pattern([Flow(weight=1), Flow(weight=3)]) == [0, 1, 1, 1]
