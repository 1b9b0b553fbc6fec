"""xdpq as the bottleneck, on the veth bed: flows offered more than ``--rate`` for
seconds beside the simulator on the same flows at the same rate; real TCP and a
ping through fq_codel and through a FIFO; the rate beside tc's tbf, and HTB's
classes beside tc's htb.

The scheduler alone decides who gets what: shares follow the weights (weighted
max-min fair over what each flow offers) within 2 percentage points, the
kernel and the simulator within 2 points of each other, and no packet is
dropped for its rank while the queue has room.
"""

from __future__ import annotations

import pytest

from xdpq.demo.continuous import Offered, kernel, simulated, weighted_fair
from xdpq.ir.link import MTU_FRAME
from xdpq.library import compile_library
from xdpq.net.testbed import TestBed
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.sim.metrics import percentile
from xdpq.testing import rates
from xdpq.testing.continuous import tcp_under_load

pytestmark = pytest.mark.kernel

RATE = 50_000_000
SECONDS = 3.0
PP = 0.02


@pytest.mark.parametrize(("scheduler", "params", "dscps", "weights"), [
    # stfq 1:2:3, each flow offered half the rate (150 % in all)
    ("stfq", {"weight": [1, 2, 3, 1, 1, 1, 1, 1]}, (0, 8, 16), (1, 2, 3)),
    # hpfq: tenants 1:2; flows 0 and 1 in tenant 0, flow 2 alone in tenant 1
    ("hpfq", {"weight": [1, 2, 1, 1, 1, 1, 1, 1]}, (0, 0, 8), None),
])
def test_shares_under_continuous_overload(bed: TestBed, scheduler: str, params: dict,
                                          dscps: tuple[int, ...],
                                          weights: tuple[int, ...] | None) -> None:
    compiled = compile_library(scheduler)
    offered = Offered(dscps)
    each = [offered.load / len(dscps)] * len(dscps)
    if weights is not None:
        want = weighted_fair(weights, each)
    else:  # tenant 1 offers 0.5 < its 2/3: tenant 0's two flows split the other half
        tenants = weighted_fair((1, 2), (each[0] + each[1], each[2]))
        want = [tenants[0] / 2, tenants[0] / 2, tenants[1]]
    k = kernel(bed, compiled, params, RATE, offered, SECONDS)
    s = simulated(compiled, params, RATE, offered, SECONDS)
    for got in (k.shares, s.shares):
        assert got == pytest.approx(want, abs=PP)
    assert k.shares == pytest.approx(s.shares, abs=PP)
    assert k.rate_bps == pytest.approx(RATE, rel=0.02)
    assert "drop_rank_window" not in k.drops and "drop_rank_window" not in s.drops


def test_fq_codel_keeps_latency_under_tcp_load_where_fifo_does_not(bed: TestBed) -> None:
    """Four CUBIC flows fill the link; a ping beside them waits behind a FIFO's whole
    queue, but fq_codel serves its sparse flow first and keeps every flow's queue near
    CoDel's 5 ms target (bench/bottleneck.py reports the figures). Both keep the link busy."""
    rate, seconds = 50_000_000, 5
    fifo = tcp_under_load(bed, compile_library("fifo"), rate, seconds)
    fq = tcp_under_load(bed, compile_library("fq_codel"), rate, seconds)
    assert len(fq.rtt_ms) > seconds * 10 and len(fifo.rtt_ms) > seconds * 10
    p99_fifo, p99_fq = percentile(sorted(fifo.rtt_ms), 99), percentile(sorted(fq.rtt_ms), 99)
    assert p99_fq <= 0.2 * p99_fifo  # in one run: a host's load moves both alike
    for run in (fifo, fq):
        assert run.goodput_bps >= 0.85 * rate
    assert fq.drops.get("drop_aqm", 0) > 0  # CoDel acted


def test_rate_and_tbf_hold_their_rate_as_tcs_tbf_does(bed: TestBed) -> None:
    """At 50 Mbit/s, offered twice that: xdpq's --rate, the library's tbf scheduler and
    the kernel's tc tbf (on a bridge of the same bed) each deliver the rate, counted in
    frame bytes at the receiver over the steady part of the run."""
    rate, seconds = 50_000_000, 2.0
    with TrafficGen(bed, [Flow(size=MTU_FRAME)]) as gen:
        got = {"xdpq": rates.xdpq_rate(bed, gen, rate, seconds),
               "tbf.xdpq": rates.xdpq_tbf(bed, gen, rate, seconds)}
        with rates.bridged(bed):
            got["tc"] = rates.tc_tbf(bed, gen, rate, seconds)
    for how, point in got.items():
        assert abs(point["error_pct"]) <= 1.0, (how, point)
    assert got["xdpq"]["drops"].get("drop_overlimit", 0) > 0  # offered 2x: the limit acts


def test_htb_classes_get_their_rates_as_tcs_htb_does(bed: TestBed) -> None:
    """At 50 Mbit/s, offered twice that in three classes alike: the library's htb
    behind --rate and the kernel's tc htb (on a bridge of the same bed), with the same
    rates, ceils and bursts, give each class what HTB's rules say (class 8 stops at its
    ceil; 0 and 16 share what is left 2:1), within 2 % of it and of each other."""
    rate, seconds = 50_000_000, 2.0
    mbit = 1_000_000
    classes = [rates.HtbClass(0, 10 * mbit, 50 * mbit), rates.HtbClass(8, 15 * mbit, 20 * mbit),
               rates.HtbClass(16, 5 * mbit, 50 * mbit)]
    flows = [Flow(size=MTU_FRAME, dscp=c.dscp, sport=10000 + c.dscp) for c in classes]
    want = rates.htb_shares(rate, classes, [2 * rate / len(classes)] * len(classes))
    assert want == pytest.approx([20 * mbit, 20 * mbit, 10 * mbit])
    with TrafficGen(bed, flows) as gen:
        xdpq = rates.xdpq_htb(bed, gen, rate, classes, seconds)
        with rates.bridged(bed):
            tc = rates.tc_htb(bed, gen, rate, classes, seconds)
    for c, w in zip(classes, want, strict=True):
        ours, theirs = xdpq["dscp_bps"][c.dscp], tc["dscp_bps"][c.dscp]  # type: ignore[index]
        assert ours == pytest.approx(w, rel=0.02), (c, xdpq, tc)
        assert theirs == pytest.approx(w, rel=0.02), (c, xdpq, tc)
        assert ours == pytest.approx(theirs, rel=0.02), (c, xdpq, tc)
