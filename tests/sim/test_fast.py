"""The fast simulator (xdpq.sim.fast) against the reference loop (xdpq.sim.run), packet by
packet: for every library scheduler, over drawn workloads (arrival times with ties,
sizes, flows, DSCPs, IPv4 and IPv6, TCP and UDP, VLANs, frames no scheduler claims or
that do not parse), parameters and links (line rates, propagation, BQL off, fixed and
adaptive, the link rate with its burst, overhead and latency, small slot pools, the
bypass FIFO or the stack, runs cut off by until), both give the same records, counters
(in the same order), drop reasons and BQL limit; and every scenario of sim/ writes the
same files either way. Where the fast path cannot run, it says why in one line and the
reference runs."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_sim_vs_kernel import param_values
from tree_programs import trees

from conftest import REPO
from xdpq.codegen.python import keeps_ecn, load_scheduler, scheduler_factory
from xdpq.dsl import check, load, parse
from xdpq.ir.layout import POOL_SLOTS
from xdpq.ir.link import Bql, BqlMode, Shaper, ShaperError
from xdpq.ir.outcomes import BYPASS_CAPACITY, INGRESS_COUNTERS, QUEUE_DROPS, Unclaimed
from xdpq.library import library_path, names
from xdpq.packet import ParseStatus
from xdpq.resources import cache_dir
from xdpq.sim import workload as wl
from xdpq.sim.fast import PackedRecords, _native, _say, source
from xdpq.sim.run import Arrival, FlowPacket, Result, Simulation
from xdpq.sim.scenario import load_scenario, run_scenario
from xdpq.sim.sweep import axes_of, run_sweep
from xdpq.sim.tcp import Ecn, TcpAgent, TcpSpec

EXAMPLES = int(os.environ.get("XDPQ_EXAMPLES", 200)) // 2
LIBRARY = names()
PROGRAMS = {name: load(library_path(name)) for name in LIBRARY}

# What a packet may be beyond its flow and size: the fields the library reads, and
# frames that are not the program's.
KINDS: list[dict[str, Any]] = [
    {},
    {"dscp": 46},
    {"dscp": 26, "l4_proto": 6, "tcp_flags": 0x18},
    {"ip": 6, "flow_label": 3},
    {"ip": 6, "flow_label": 700, "dscp": 40},
    {"dscp": 8, "vlan_count": 1, "vlan_tci": (0x0123, 0)},
    {"dscp": 16, "ecn": 1, "ttl": 3},
    {"ip_ver": 0, "eth_proto": 0x0806},  # ARP: unclaimed
    {"status": ParseStatus.L3_TRUNC},  # does not parse: malformed
]


@dataclass(frozen=True)
class Send:
    dt: int
    flow: int
    kind: int
    size: int
    own: bool  # a packet object of its own, rather than its flow's shared one


sends = st.lists(
    st.builds(Send,
              st.one_of(st.sampled_from([0, 0, 1, 1_000, 12_000, 100_000, 2_000_000]),
                        st.integers(0, 300_000)),
              st.integers(0, 9), st.integers(0, len(KINDS) - 1),
              st.one_of(st.sampled_from([1, 64, 576, 1500, 1514]), st.integers(1, 9000)),
              st.booleans()),
    max_size=300,
)


def packet(flow: int, kind: int, size: int) -> FlowPacket:
    spec = dict(KINDS[kind])
    ip, label, dscp = spec.pop("ip", 4), spec.pop("flow_label", 0), spec.pop("dscp", 0)
    return replace(wl.flow_packet(flow, size, dscp, ip=ip, flow_label=label), **spec)


def arrivals(trace: list[Send]) -> list[Arrival]:
    shared: dict[tuple[int, int, int], FlowPacket] = {}
    out, now = [], 0
    for s in trace:
        now += s.dt
        key = (s.flow, s.kind, s.size)
        if s.own or key not in shared:
            shared[key] = packet(*key)
        out.append(Arrival(now, shared[key]))
    return out


def shapers(rate: int, burst: int, overhead: int, latency: int) -> Shaper:
    try:
        return Shaper(rate, burst, overhead, latency)
    except ShaperError:
        return Shaper(rate, burst, overhead)


links = st.fixed_dictionaries({
    "rate_bps": st.sampled_from([10**6, 10**7, 123_456_789, 10**9, 10**10]),
    "propagation_ns": st.sampled_from([0, 0, 10_000, 1_000_001]),
    "bql": st.one_of(st.just(Bql(BqlMode.OFF)), st.just(Bql()),
                     st.builds(Bql, st.sampled_from([BqlMode.FIXED, BqlMode.ADAPTIVE]),
                               st.sampled_from([0, 1514, 3000, 20_000, 10**7]))),
    "shaper": st.one_of(st.just(Shaper()), st.builds(
        shapers, st.sampled_from([10**6, 7_777_777, 123_456_789, 10**9]),
        st.sampled_from([0, 12_000, 1_000_000, 30_000_000]), st.sampled_from([0, 24, -14]),
        st.sampled_from([0, 0, 2_000_000, 50_000_000]))),
    "pool": st.sampled_from([POOL_SLOTS, POOL_SLOTS, 3, 40]),
    "unclaimed": st.sampled_from([Unclaimed.FORWARD, Unclaimed.FORWARD, Unclaimed.STACK]),
})


def outcome(result: Result, sched: Any) -> tuple[object, ...]:
    return ([asdict(r) for r in result.records], list(result.counters.items()),
            result.duration_ns, result.bql_limit, sched.dropped, sched.reasons, sched.marked,
            sched.marks)


def marks_ecn_capable(name: str, trace: list[Arrival], until: int | None = None,
                      stream: bool = False) -> bool:
    """The fast path does not model ECN marks: whether it leaves this run to the
    reference, as a program that marks (or reads the dequeued packet's ecn) given an
    ECN-capable packet among those it reads (all of a list; of a stream, as the
    reference, none after until)."""
    read = trace if until is None or not stream else [a for a in trace if a.time <= until]
    return keeps_ecn(PROGRAMS[name]) and any(a.packet.ecn for a in read)


def both(name: str, params: dict[str, Any], trace: list[Arrival], until: int | None,
         stream: bool = False, **link: Any) -> tuple[object, ...]:
    """The run through the reference and through the fast path (the arrivals as a list,
    or a stream): the same, or it fails. The fast path runs it, unless it marks."""
    runs = []
    for fast in (False, True):
        sched = load_scheduler(library_path(name), params)
        result = Simulation(sched, fast=fast, **link).run(iter(trace) if stream else trace,
                                                          until=until)
        if fast:
            ran = isinstance(result.records, PackedRecords)
            assert ran is not marks_ecn_capable(name, trace, until, stream), \
                "the fast path did (not) run"
        runs.append(outcome(result, sched))
    assert runs[0] == runs[1]
    return runs[0]


@pytest.mark.parametrize("name", LIBRARY)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), trace=sends, link=links)
def test_fast_path_is_the_reference(name: str, data: st.DataObject, trace: list[Send],
                                    link: dict[str, Any]) -> None:
    params = data.draw(param_values(PROGRAMS[name]), label="params")
    given_arrivals = arrivals(trace)
    end = given_arrivals[-1].time if given_arrivals else 0
    until = data.draw(st.sampled_from([None, end // 2, end, 10 * end]), label="until")
    both(name, params, given_arrivals, until, data.draw(st.booleans(), label="stream"), **link)


def overload() -> list[Arrival]:
    """Eight flows in four DSCP classes, IPv4 and IPv6, mixed sizes, twice what a
    100 Mbit/s link carries: queues fill, refuse and drop."""
    streams = [wl.poisson(6_000, 600, 1500, seed=f, flow=f, dscp=8 * (f % 4),
                          ip=6 if f % 3 else 4) for f in range(8)]
    return list(wl.merge(*streams))


@pytest.mark.parametrize("bql", ["adaptive", "fixed:3000", "off"])
@pytest.mark.parametrize("name", LIBRARY)
def test_fast_path_under_overload(name: str, bql: str) -> None:
    trace = overload()
    _, counters, *_ = both(name, {}, trace, trace[-1].time // 2, rate_bps=100_000_000,
                             propagation_ns=20_000, bql=Bql.parse(bql))
    assert dict(counters)["dequeued"] > 0


@pytest.mark.parametrize("name", ["fifo", "drr", "tbf"])
def test_fast_path_breaks_ties_as_the_reference(name: str) -> None:
    """Every arrival comes at the very time the frame before it completes (1000 B at
    1 Gbit/s: 8 µs apart): the arrival goes first, then the completion, then the
    scheduler's run, which sees the device empty, and BQL's peak in flight stays one
    frame. In another order the peak is two frames, and so is the limit at the end."""
    trace = list(wl.constant(125_000, 1000, 2000))
    params = {"rate": 10**9} if name == "tbf" else {}
    _, _, _, limit, *_ = both(name, params, trace, None, rate_bps=10**9)
    assert limit == 1514


@pytest.mark.parametrize("shaper", [Shaper(123_456_789, 0), Shaper(7_777_777, 12_000, 24),
                                    Shaper(10**8, latency_ns=2_000_000)])
def test_fast_path_keeps_the_release_clock(shaper: Shaper) -> None:
    """Twice the link rate's worth, backlogged: every release is at the exact time the
    rate allows (its remainder carried), or the arrival is over the limit."""
    trace = list(wl.constant(2 * shaper.rate / 8000, 1000, 3000))
    both("fifo", {}, trace, None, rate_bps=10**9, bql=Bql(BqlMode.OFF), shaper=shaper)


def test_fast_path_drops_where_the_bypass_fifo_is_full() -> None:
    arp = replace(wl.flow_packet(1, 60), ip_ver=0, eth_proto=0x0806)
    trace = [Arrival(0, arp) for _ in range(BYPASS_CAPACITY + 5)]
    _, counters, *_ = both("fifo", {}, trace, None, rate_bps=10**9, bql=Bql.hold())
    assert dict(counters)["drop_bypass_full"] == 5


def test_fast_path_codel_drops() -> None:
    """fq_codel's drops in its dequeue hook, in order, with their reason: its packets are
    Not-ECT, so where it would mark CE (mark ce codel else drop codel) it drops."""
    trace = list(wl.constant(20_000, 1000, None, until_ns=300_000_000))
    assert keeps_ecn(PROGRAMS["fq_codel"]) and not marks_ecn_capable("fq_codel", trace)
    *_, dropped, reasons, marked, marks = both("fq_codel", {"target": 1000,
                                                            "interval": 1_000_000},
                                               trace, None, rate_bps=10**7)
    assert len(dropped) == reasons["codel"][0] > 10
    assert marked == [] and marks["codel"] == [0, 0]


def test_marking_falls_back(capsys: pytest.CaptureFixture[str]) -> None:
    """The same run with ECN-capable packets (ECT(0)): fq_codel marks them CE where it
    dropped, which the fast path leaves to the reference, with its notice."""
    trace = [replace(a, packet=wl.flow_packet(a.packet.flow, a.packet.len, ecn=2))
             for a in wl.constant(20_000, 1000, None, until_ns=300_000_000)]
    capsys.readouterr()
    _say.cache_clear()  # the notice is once per process
    _, counters, *_, dropped, reasons, marked, marks = both(
        "fq_codel", {"target": 1000, "interval": 1_000_000}, trace, None, rate_bps=10**7)
    assert len(marked) == marks["codel"][0] == dict(counters)["mark_ce"] > 10
    assert dropped == [] and reasons["codel"] == [0, 0]
    assert capsys.readouterr().err.splitlines() == [
        "xdpq: the fast simulator does not run this: it does not model ECN (mark ce, the "
        "dequeued packet's ecn) of ECN-capable packets; the reference simulator runs it instead"]


def test_the_outcomes_are_the_datapaths_counters() -> None:
    native = _native(source(PROGRAMS["fifo"]), cache_dir())
    assert not isinstance(native, str), native
    native.close()
    named = set(native.names) - {"unfinished", "delivered", "pifo_clamped", *QUEUE_DROPS}
    assert named <= set(INGRESS_COUNTERS)
    assert set(INGRESS_COUNTERS) - named == {"pass_oversize"}  # frames a run never has


# -- scenarios -----------------------------------------------------------------------------


# Those without closed-loop flows, which the fast path leaves to the reference (below).
SCENARIOS = [p for p in sorted((REPO / "sim").glob("*.toml")) if not load_scenario(p).tcp]


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.suffix != ".png"}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenarios_write_the_same_files(path: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    scenario = load_scenario(path)
    for fast in (False, True):
        out = tmp_path / str(fast)
        if scenario.sweep is None:
            run_scenario(scenario, out, load_scheduler, plots=False, fast=fast)
        else:
            run_sweep(scenario, axes_of(scenario, []), out, plots=False, fast=fast)
    assert "fast simulator" not in capsys.readouterr().err
    ref, fast_files = _files(tmp_path / "False"), _files(tmp_path / "True")
    assert ref.keys() == fast_files.keys() and "records.csv" in str(list(ref))
    for name in ref:
        assert ref[name] == fast_files[name], name


# -- falling back --------------------------------------------------------------------------


@dataclass
class Closed(Simulation):
    """A run with a setting the fast path does not know, so does not model."""

    sources: tuple[str, ...] = ()


def test_what_it_does_not_model_falls_back(capsys: pytest.CaptureFixture[str]) -> None:
    trace = overload()[:500]
    runs = []
    for sim in (Closed(load_scheduler(library_path("drr")), 10**8, sources=("tcp",)),
                Closed(load_scheduler(library_path("drr")), 10**8, sources=("tcp",),
                       fast=True)):
        result = sim.run(trace)
        runs.append(outcome(result, sim.scheduler))
    assert runs[0] == runs[1]
    assert not isinstance(result.records, PackedRecords)
    err = capsys.readouterr().err.splitlines()
    assert err == ["xdpq: the fast simulator does not run this: it does not model the run's "
                   "sources; the reference simulator runs it instead"]


def test_closed_loop_sources_fall_back(capsys: pytest.CaptureFixture[str]) -> None:
    """TCP flows (run(..., closed=...)) beside open-loop arrivals, through fq_codel,
    which marks their ECN-capable segments: the reference runs it, and says why."""
    runs, stats = [], []
    _say.cache_clear()  # the notice is once per process
    for fast in (False, True):
        agent = TcpAgent([TcpSpec(f, rtt_ns=4_000_000, ecn=Ecn.CLASSIC, seed=f)
                          for f in (1, 2)])
        sched = load_scheduler(library_path("fq_codel"), {"target": 100_000,
                                                           "interval": 2_000_000})
        sim = Simulation(sched, 10**7, fast=fast)
        result = sim.run(list(wl.constant(100, 98, None, until_ns=300_000_000)),
                         until=300_000_000, closed=agent)
        assert not isinstance(result.records, PackedRecords)
        runs.append(outcome(result, sim.scheduler))
        stats.append([asdict(s) for s in agent.stats(300_000_000)])
    assert runs[0] == runs[1] and stats[0] == stats[1]
    assert runs[0][6], "nothing was marked"
    assert capsys.readouterr().err.splitlines() == [
        "xdpq: the fast simulator does not run this: it does not model closed-loop (TCP) "
        "sources; the reference simulator runs it instead"]


def test_a_scheduler_that_ran_before_falls_back(capsys: pytest.CaptureFixture[str]) -> None:
    trace = overload()[:300]
    sched = load_scheduler(library_path("stfq"))
    Simulation(sched, 10**8).run(trace[:100])
    again = Simulation(sched, 10**8, fast=True).run(trace[100:])
    assert not isinstance(again.records, PackedRecords)
    assert "the scheduler has run before" in capsys.readouterr().err
    # and a trace (the event log of the kernel differential) is the reference's
    log: list[tuple[object, ...]] = []
    Simulation(load_scheduler(library_path("fifo")), 10**8, trace=log, fast=True).run(trace)
    assert log and "event log" in capsys.readouterr().err
    # and a slot pool larger than the kernel's (kern/ links slots by index)
    big = Simulation(load_scheduler(library_path("fifo")), 10**8, pool=2 * POOL_SLOTS,
                     fast=True).run(trace)
    assert not isinstance(big.records, PackedRecords)
    assert f"a slot pool of {2 * POOL_SLOTS} is beyond" in capsys.readouterr().err


def test_without_clang_the_cli_says_so_and_runs(tmp_path: Path) -> None:
    """A machine without a C compiler: one line on stderr, and the same files."""
    scenario = REPO / "sim" / "prio.toml"
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {**os.environ, "PATH": str(bare), "XDPQ_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO)}
    runs = {}
    for flag in ("--fast", None):
        out = tmp_path / (flag or "ref")
        cmd = [sys.executable, "-m", "xdpq.cli", "sim", str(scenario), "--out", str(out),
               "--no-plots", *([flag] if flag else [])]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        runs[flag] = done
        assert (out / "records.csv").read_bytes()
    notice = [line for line in runs["--fast"].stderr.splitlines() if "fast simulator" in line]
    assert notice == ["xdpq: the fast simulator does not run this: it cannot be built: clang "
                      "not found: install it (./run installs clang and bpftool); the reference "
                      "simulator runs it instead"]
    assert "fast simulator" not in runs[None].stderr
    assert _files(tmp_path / "--fast") == _files(tmp_path / "ref")


def test_a_program_nobody_wrote_for_the_library() -> None:
    """Two hierarchies side by side, a parent FIFO, per-queue state, an eligibility time
    and drops in both hooks: what the library does not have, the same both ways."""
    text = """scheduler odd
param cut = 3 in 0..10
queue a[4]: fifo(capacity = 20)
queue pa: fifo(capacity = 100) of a
queue b[4]: pifo(range = 64, capacity = 30)
queue pb: pifo(range = 64) of b
queue late: rbtree(capacity = 50)
state global { n: count = 0 }
state per b { seen: count = 0 }
state per flow(ip.src, l4.sport) { k: count = 0 }
on enqueue {
  n = n + 1
  flow.k = flow.k + 1
  if flow.k % 7 == cut { drop seventh }
  if ip.dscp >= 40 { enqueue late rank now at now + 50us }
  if ip.dscp >= 16 { enqueue a[l4.sport] } else { enqueue b[hash(ip.src, l4.sport)] rank n }
}
on ready b(i) {
  b[i].seen = b[i].seen + 1
  enqueue pb rank b[i].seen * 100 + b[i].head / 100B
}
on dequeue(p) {
  if p.len > 1400B and n % 5 == 0 { drop big }
}
"""
    make = scheduler_factory(check(parse(text, "odd.xdpq"), text))
    trace = overload()
    runs = []
    for fast in (False, True):
        sched = make({"cut": 2})
        result = Simulation(sched, 10**8, fast=fast).run(trace, until=trace[-1].time // 2)
        runs.append(outcome(result, sched))
    assert runs[0] == runs[1]
    reasons = runs[0][5]
    assert reasons["seventh"][0] > 0 and reasons["big"][0] > 0


# No shrinking: every example builds a library, and a failure prints its tree.
@settings(max_examples=max(EXAMPLES // 8, 4), deadline=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=trees(), data=st.data())
def test_random_trees_run_the_same_fast(text: str, data: st.DataObject) -> None:
    """The trees test_trees.py holds the kernel to (up to four levels, token buckets, fixed
    PIFO windows, eligibility on the real clock and on virtual ones, signed state, drops,
    paths read on dequeue), through the fast path and the reference over drawn traces and
    links."""
    _same_fast(text, data)


@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=trees(depths=(2, 3), fans=(1, 2, 4), leaves=("rbtree",)), data=st.data())
def test_rbtree_arrays_run_the_same_fast(text: str, data: st.DataObject) -> None:
    """Arrays of rbtrees: kern/tree.h searches their shared tree from its root, which
    userspace/ models as a sorted array."""
    _same_fast(text, data)


def _same_fast(text: str, data: st.DataObject) -> None:
    make = scheduler_factory(check(parse(text, "tree.xdpq"), text))
    for _ in range(3):
        trace = arrivals(data.draw(sends, label="trace"))
        link = data.draw(links, label="link")
        runs = []
        for fast in (False, True):
            sched = make()
            result = Simulation(sched, fast=fast, **link).run(trace)
            if fast:
                assert isinstance(result.records, PackedRecords), "the fast path did not run"
            runs.append(outcome(result, sched))
        assert runs[0] == runs[1]
