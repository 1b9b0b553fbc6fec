"""Workload generators: rates, synchronization, size distributions, pcap replay."""

from __future__ import annotations

import random
import statistics
from itertools import islice, pairwise
from pathlib import Path

import pytest

from xdpq.errors import XdpqError
from xdpq.packet import flow_hash, parse
from xdpq.sim.workload import (
    NS,
    FlowPacket,
    SizeCdf,
    constant,
    flow_sizes,
    incast,
    load_cdf,
    merge,
    on_off,
    pcap,
    poisson,
)


def test_poisson_rate_and_exponential_gaps() -> None:
    arrivals = list(poisson(10_000, 1000, 50_000, seed=7, exponential_sizes=False))
    span = arrivals[-1].time / NS
    assert len(arrivals) / span == pytest.approx(10_000, rel=0.02)
    gaps = [b.time - a.time for a, b in pairwise(arrivals)]
    # exponential: the standard deviation equals the mean
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(1, abs=0.03)
    assert {a.packet.len for a in arrivals} == {1000}


def test_generators_are_reproducible_and_seed_dependent() -> None:
    def take(seed: int) -> list[tuple[int, int, int]]:
        return [(a.time, a.packet.flow, a.packet.len) for a in islice(merge(
            poisson(1000, 500, None, seed), on_off(3, 500, 800, 10**7, 10**7, seed, first_flow=1),
            flow_sizes(load_cdf("websearch"), 0.5, 1e9, seed, first_flow=10)), 3000)]
    assert take(3) == take(3)
    assert take(3) != take(4)


def test_merge_keeps_time_order() -> None:
    stream = list(merge(constant(1000, 100, 100, flow=0), poisson(3000, 100, 300, seed=1, flow=1)))
    times = [a.time for a in stream]
    assert times == sorted(times) and len(stream) == 400


def test_on_off_fixed_periods_send_only_while_on() -> None:
    # 2 sources, 10 ms on / 30 ms off, 10 000 packets/s while on, over 400 ms.
    arrivals = list(on_off(2, 10_000, 500, 10**7, 3 * 10**7, seed=1, exponential=False,
                           until_ns=4 * 10**8))
    for a in arrivals:
        assert a.time % (4 * 10**7) < 10**7  # inside an on period
    per_flow = [sum(1 for a in arrivals if a.packet.flow == f) for f in (0, 1)]
    assert per_flow == [1000, 1000]  # 10 periods x 100 packets


def test_on_off_exponential_duty_cycle() -> None:
    on, off = 2 * 10**6, 6 * 10**6
    arrivals = list(on_off(20, 1000, 100, on, off, seed=5, until_ns=4 * 10**9))
    rate = len(arrivals) / 20 / 4  # packets per second per source
    assert rate == pytest.approx(1000 * on / (on + off), rel=0.05)


def test_incast_bursts_are_synchronized() -> None:
    senders, burst, period = 16, 20_000, 10**6
    arrivals = list(incast(senders, burst, period, seed=1, access_rate_bps=1e9, bursts=3))
    assert len(arrivals) == 3 * senders * 14  # 13 full frames + a 314 B one per burst
    for k in range(3):
        firsts: dict[int, int] = {}
        for a in arrivals:
            if a.packet.flow // senders == k:
                firsts.setdefault(a.packet.flow, a.time)
        assert len(firsts) == senders
        assert set(firsts.values()) == {k * period}  # every sender starts at the same instant
    for a in arrivals:
        assert a.packet.flow_size == burst
        # one connection per sender across bursts
        assert a.packet.sport == 1024 + a.packet.flow % senders
    by_flow = {f: sum(a.packet.len for a in arrivals if a.packet.flow == f) for f in range(48)}
    assert set(by_flow.values()) == {burst}


def test_incast_jitter_stays_within_bound() -> None:
    arrivals = list(incast(8, 3000, 10**6, seed=2, access_rate_bps=1e9, jitter_ns=5000,
                           bursts=1))
    firsts: dict[int, int] = {}
    for a in arrivals:
        firsts.setdefault(a.packet.flow, a.time)
    assert all(0 <= t < 5000 for t in firsts.values()) and len(set(firsts.values())) > 1


@pytest.mark.parametrize("name", ["websearch", "datamining"])
def test_cdf_sampling_matches_the_cdf_mean(name: str) -> None:
    cdf = load_cdf(name)
    rng = random.Random(11)
    samples = [cdf.sample(rng) for _ in range(300_000)]
    assert statistics.fmean(samples) == pytest.approx(cdf.mean(), rel=0.04)
    assert min(samples) >= cdf.sizes[0] and max(samples) <= cdf.sizes[-1]


def test_builtin_cdfs_have_the_published_shape() -> None:
    ws, dm = load_cdf("websearch"), load_cdf("datamining")
    assert ws.mean() == pytest.approx(1.67e6, rel=0.02)  # DCTCP web search: ~1.6 MB
    assert dm.mean() == pytest.approx(7.47e6, rel=0.02)  # VL2 data mining: ~7.4 MB
    rng = random.Random(1)
    single = sum(dm.sample(rng) <= 1460 for _ in range(20_000)) / 20_000
    assert single == pytest.approx(0.5, abs=0.02)  # half the data-mining flows are one segment


def test_cdf_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cdf"
    bad.write_text("# comment\n100 0\n50 1\n")
    with pytest.raises(XdpqError, match="must not decrease"):
        load_cdf(bad)
    bad.write_text("100 0\n200 x\n")
    with pytest.raises(XdpqError, match=r"bad\.cdf:2"):
        load_cdf(bad)
    with pytest.raises(ValueError):
        SizeCdf("x", (1.0,), (1.0,))


def test_flow_sizes_offer_the_load_and_tag_every_packet() -> None:
    cdf = SizeCdf("two", (1000.0, 1000.0, 100_000.0), (0.0, 0.5, 1.0))  # mean 25 750 B
    rate, load, span = 1e9, 0.4, 2 * NS
    arrivals = list(flow_sizes(cdf, load, rate, seed=3, until_ns=span, mtu=1500))
    offered = sum(a.packet.len for a in arrivals) * 8 / (span / NS)
    assert offered == pytest.approx(load * rate, rel=0.05)
    sent: dict[int, int] = {}
    for a in arrivals:
        p = a.packet
        assert p.len <= 1500 and p.ip_ver == 6
        before = sent.get(p.flow, 0)
        assert p.flow_label == -(-(p.flow_size - before) // 1024)  # remaining KiB, srpt's rank
        sent[p.flow] = before + p.len
    sizes = {a.packet.flow: a.packet.flow_size for a in arrivals}
    complete = [f for f in sizes if sent[f] == sizes[f]]
    assert len(complete) >= len(sizes) - 3  # only flows cut at the end are partial


def test_flow_sizes_packets_follow_the_access_rate() -> None:
    cdf = SizeCdf("fixed", (15_000.0, 15_000.0), (0.0, 1.0))
    arrivals = list(flow_sizes(cdf, 0.01, 1e9, seed=1, flows=1, access_rate_bps=1e8))
    assert [a.packet.len for a in arrivals] == [1514] * 9 + [1374]
    gaps = {b.time - a.time for a, b in pairwise(arrivals)}
    assert gaps == {121_120}  # 1514 B at 100 Mbit/s


def test_packets_carry_real_headers() -> None:
    p = next(iter(constant(1, 1000, 1, flow=5, dscp=46)))
    assert isinstance(p.packet, FlowPacket)
    assert p.packet.flow_hash == flow_hash(p.packet.saddr, p.packet.daddr, 1029, 9, 17)
    assert p.packet.dscp == 46 and p.packet.ip_ver == 4


def test_pcap_replay_round_trips(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    macs = {"src": "02:00:00:00:00:02", "dst": "02:00:00:00:00:01"}  # no address resolution
    frames = []
    for i in range(30):
        if i % 3 == 0:
            f = Ether(**macs) / IP(src="10.0.0.1", dst="10.0.0.2", tos=46 << 2) / \
                UDP(sport=1000, dport=53) / bytes(100 + i)
        elif i % 3 == 1:
            f = Ether(**macs) / IP(src="10.0.0.3", dst="10.0.0.2") / \
                TCP(sport=2000, dport=80) / bytes(i)
        else:
            f = Ether(**macs) / IPv6(src="fd00::1", dst="fd00::2", fl=77) / UDP(sport=3, dport=4)
        f.time = 1_700_000_000 + i * 0.0015
        frames.append(f)
    path = tmp_path / "t.pcap"
    wrpcap(str(path), frames)
    got = list(pcap(path, start_ns=1000))
    assert len(got) == 30
    for i, (a, f) in enumerate(zip(got, frames, strict=True)):
        assert a.time == pytest.approx(1000 + i * 1_500_000, abs=1000)  # microsecond stamps
        want = parse(bytes(f))
        assert a.packet.len == len(f)
        assert (a.packet.saddr, a.packet.daddr, a.packet.sport, a.packet.dport) == \
            (want.saddr, want.daddr, want.sport, want.dport)
        assert a.packet.flow_hash == want.flow_hash and a.packet.dscp == want.dscp
        assert a.packet.flow == i % 3  # flows in order of first appearance
    assert got[2].packet.flow_label == 77 and got[2].packet.ip_ver == 6
    fast = list(pcap(path, speed=2.0))
    assert fast[-1].time == pytest.approx(29 * 750_000, abs=1000)


def test_pcap_errors(tmp_path: Path) -> None:
    with pytest.raises(XdpqError, match="cannot read"):
        list(pcap(tmp_path / "missing.pcap"))
