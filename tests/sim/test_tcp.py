"""The simulator's TCP model (xdpq.sim.tcp) against what TCP theory says it must do.

Each test runs real flows through a real scheduler program in the simulator's
loop: slow start doubles the window every round trip; one loss halves
NewReno's window and takes CUBIC's to 0.7 of it, after which CUBIC's window
follows RFC 9438's cubic; a long flow over a lossy path gets Mathis's
throughput; one flow fills a link whose FIFO holds one bandwidth-delay
product; ECN marks reduce the window without a loss, classic and DCTCP.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from xdpq.codegen.python import load_scheduler, scheduler_factory
from xdpq.dsl import check, parse
from xdpq.ir.link import Bql, BqlMode, Shaper
from xdpq.library import fifo_program, library_path
from xdpq.sim.run import Result, Simulation
from xdpq.sim.tcp import NEVER, NS, Cc, Ecn, TcpAgent, TcpSpec, TcpStats

MS = 1_000_000
FAST = 10 * 10**9  # a link that never queues these flows

DROP_ONE = """scheduler drop_one
queue q: fifo(capacity = 65536)
state global { n: count = 0 }
on enqueue {
  n = n + 1
  if n == 300 { drop once }
  enqueue q
}
"""
# L4S-style: mark ECN-capable packets that waited more than 1 ms (a step threshold).
STEP_MARK = """scheduler step
queue q: fifo(capacity = 10000)
on enqueue { enqueue q }
on dequeue(p) {
  if now - p.enqueued > 1ms { mark ce step else drop step }
}
"""


def program(text: str) -> object:
    return scheduler_factory(check(parse(text, "t.xdpq"), text))()


def run(sched: object, specs: list[TcpSpec], until: int, rate: int = FAST,
        shape: int = 0, sample_ns: int = 10 * MS) -> tuple[Result, list[TcpStats]]:
    agent = TcpAgent(specs, sample_ns)
    sim = Simulation(sched, rate, bql=Bql(BqlMode.OFF), shaper=Shaper(shape))
    return sim.run([], until=until, closed=agent), agent.stats(until)


@pytest.mark.parametrize(("delack", "rwnd_init"), [(0, 0), (40 * MS, 0), (40 * MS, 46080)])
def test_slow_start_doubles_the_window_every_round_trip(delack: int, rwnd_init: int) -> None:
    """From an initial window of 10, each round trip sends twice as many segments as
    the one before (with delayed ACKs too: the window grows by what is ACKed; and
    with Linux's receive-window autotuning from 31 segments, which opens the window
    ahead of what a round trip delivered)."""
    rtt = 100 * MS
    res, _ = run(program(DROP_ONE.replace("n == 300", "n == 0")),
                 [TcpSpec(0, cc=Cc.NEWRENO, rtt_ns=rtt, delack_ns=delack,
                          rwnd_init=rwnd_init)], 6 * rtt)
    rounds = Counter((r.arrived - rtt // 2) // rtt for r in res.records)
    assert [rounds[k] for k in range(5)] == [10, 20, 40, 80, 160]


def loss_response(cc: Cc) -> tuple[float, float, TcpStats]:
    """One segment of a flow in slow start lost: the window before and after the
    reduction, and the flow's samples (one per ACK)."""
    _, (s,) = run(program(DROP_ONE), [TcpSpec(0, cc=cc, rtt_ns=100 * MS, hystart=False)],
                  14 * NS, sample_ns=0)
    cwnd = [x[1] for x in s.samples]
    i = next(i for i in range(1, len(cwnd)) if cwnd[i] < cwnd[i - 1])
    assert s.loss_events == 1 and s.retransmits == 1 and s.timeouts == 0
    return cwnd[i - 1], cwnd[i], s


def test_one_loss_halves_the_newreno_window() -> None:
    before, after, _ = loss_response(Cc.NEWRENO)
    assert before > 100
    assert after == before * 0.5


def test_cubic_takes_beta_and_then_follows_the_cubic() -> None:
    """β = 0.7; then W(t) = C (t - K)^3 + W_max with K = cbrt(W_max (1 - β) / C): concave
    up to W_max at t = K, convex beyond (RFC 9438 section 4)."""
    w_max, after, s = loss_response(Cc.CUBIC)
    assert after == pytest.approx(0.7 * w_max)
    k = (w_max * 0.3 / 0.4) ** (1 / 3)
    cwnd = [x[1] for x in s.samples]
    i = next(i for i in range(1, len(cwnd)) if cwnd[i] < cwnd[i - 1])
    start = next(s.samples[j][0] for j in range(i + 1, len(cwnd)) if cwnd[j] > cwnd[j - 1])
    for dt in (0.5, 1, 2, 3, k, 8, 10, 12):
        t = start + int(dt * NS)
        got = max(x for x in s.samples if x[0] <= t)[1]
        assert got == pytest.approx(0.4 * (dt - k) ** 3 + w_max, rel=0.02), dt


@pytest.mark.parametrize("loss_ppm", [5000, 10000, 20000])
def test_a_long_flow_over_a_lossy_path_follows_mathis(loss_ppm: int) -> None:
    """Throughput = MSS / RTT * sqrt(3/2) / sqrt(p) (Mathis et al., 1997) within 15 %,
    for NewReno over the library's delay program losing p of the packets at random."""
    sched = load_scheduler(library_path("delay"), {"delay": [0] * 16, "loss": loss_ppm})
    rtt, mss = 20 * MS, 1448
    _, (s,) = run(sched, [TcpSpec(0, cc=Cc.NEWRENO, rtt_ns=rtt, mss=mss, delack_ns=0)],
                  60 * NS)
    p = loss_ppm / 1e6
    mathis = mss * 8 / (rtt / NS) * math.sqrt(1.5) / math.sqrt(p)
    assert s.goodput_bps == pytest.approx(mathis, rel=0.15)
    assert s.loss_events > 100


def test_one_flow_fills_a_link_with_a_bdp_of_fifo() -> None:
    """NewReno halves its window on a loss; with a FIFO of one bandwidth-delay product
    the queue drains just as the window has shrunk, and the link stays busy."""
    rate, rtt = 100_000_000, 20 * MS
    bdp = rate * rtt // NS // 8 // 1514
    sched = scheduler_factory(fifo_program(bdp))()
    until = 30 * NS
    res, (s,) = run(sched, [TcpSpec(0, cc=Cc.NEWRENO, rtt_ns=rtt)], until, shape=rate)
    lo = 5 * NS
    sent = sum(r.size for r in res.records if r.outcome == "delivered" and r.departed >= lo)
    assert sent * 8 / ((until - lo) / NS) >= 0.95 * rate
    assert s.loss_events >= 5  # the window did saw: the buffer, not the window, held it


@pytest.mark.parametrize("cc", [Cc.NEWRENO, Cc.CUBIC])
def test_classic_ecn_under_fq_codel_reduces_without_loss(cc: Cc) -> None:
    sched = load_scheduler(library_path("fq_codel"))
    specs = [TcpSpec(i, cc=cc, ecn=Ecn.CLASSIC) for i in range(2)]
    res, stats = run(sched, specs, 10 * NS, shape=100_000_000)
    assert res.counters["mark_ce"] > 0 and res.counters["drop_aqm"] == 0
    for s in stats:
        assert s.retransmits == 0 and s.ecn_events > 0 and s.ce_received > 0
        assert s.srtt_p50_ns < 20 * MS + 10 * MS  # near CoDel's target of queue


def test_dctcp_under_a_step_marker_keeps_the_queue_short_and_the_link_full() -> None:
    rate = 100_000_000
    specs = [TcpSpec(i, cc=Cc.DCTCP, ecn=Ecn.L4S) for i in range(2)]
    res, stats = run(program(STEP_MARK), specs, 10 * NS, shape=rate)
    assert res.counters["mark_ce"] > 0 and "drop_aqm" not in res.counters
    assert sum(s.goodput_bps for s in stats) >= 0.9 * rate * 1448 / 1514  # of the payload
    for s in stats:
        assert s.retransmits == 0
        assert s.srtt_p50_ns < 20 * MS + 3 * MS


def one_flow(**spec: object) -> TcpAgent:
    """A CUBIC flow that has sent its initial window at 0, driven by hand."""
    agent = TcpAgent([TcpSpec(0, **spec)])  # type: ignore[arg-type]
    agent.flows[0].send(0)
    return agent


def test_cubic_samples_the_newest_segment_and_the_estimators_the_oldest() -> None:
    """Linux's tcp_clean_rtx_queue(): the smoothed RTT from the oldest segment an ACK
    newly covers (seq_rtt_us), CUBIC's delay_min and HyStart from the newest
    (ca_rtt_us, rs->rtt_us): a delayed ACK's wait for the second segment is no
    queueing."""
    f = one_flow().flows[0]
    f.on_ack(30 * MS, 2, [(0, 1, 0), (1, 2, 8 * MS)], False, 0, 0, 1000)
    assert (f.srtt, f.min_rtt, f.delay_min) == (30 * MS, 30 * MS, 22 * MS)


def test_a_timeout_starts_hystart_again() -> None:
    """cubictcp_state(TCP_CA_Loss): bictcp_reset() clears W_max, delay_min and HyStart's
    found, so the slow start after a timeout may end by HyStart too."""
    f = one_flow().flows[0]
    f.on_ack(20 * MS, 1, [(0, 1, 0)], False, 0, 0, 1000)
    f.hs_found, f.w_max = True, 40.0
    f.on_rto_event(f.rto_at)
    assert (f.timeouts, f.hs_found, f.w_max, f.delay_min) == (1, False, 0.0, NEVER)
