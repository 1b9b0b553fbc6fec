"""The simulator, running the compiled library schedulers, against queueing theory.

Each check runs a scheduler from ``schedulers/`` (through the simulator's back
end, the same IR the kernel program is generated from) on a workload for which
theory says what must come out, and asserts the statistic.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator

import pytest

from xdpq.codegen.python import load_scheduler
from xdpq.library import library_path
from xdpq.sim import workload as wl
from xdpq.sim.metrics import completions
from xdpq.sim.run import DROPPED, Arrival, Record, Result, Simulation

MS = 1_000_000


def run(
    name: str,
    arrivals: Iterator[Arrival],
    rate_bps: int,
    until: int | None = None,
    **params: int | list[int],
) -> Result:
    sched = load_scheduler(library_path(name), params)
    return Simulation(sched, rate_bps=rate_bps).run(arrivals, until=until)


def delivered(result: Result, until: int) -> list[Record]:
    """The packets delivered by ``until``, in departure order."""
    return sorted(
        (r for r in result.records if r.departed != DROPPED and r.departed <= until),
        key=lambda r: r.departed,
    )


def test_fifo_with_poisson_arrivals_and_exponential_sizes_is_mm1() -> None:
    rate_bps, mean_size = 1_000_000_000, 1000
    mu = rate_bps / (8 * mean_size)  # packets per second the link serves
    lam = 0.5 * mu
    result = run("fifo", wl.poisson(lam, mean_size, count=200_000, seed=1), rate_bps)
    sojourn = [r.departed - r.arrived for r in result.records if r.outcome == "delivered"]
    assert len(sojourn) == 200_000  # at load 0.5, 1000 places are never all taken
    expected_ns = 1e9 / (mu - lam)  # M/M/1 mean time in system
    assert abs(statistics.fmean(sojourn) / expected_ns - 1) < 0.03


def test_stfq_long_run_shares_follow_the_weights_within_one_percent() -> None:
    # Weights 1:2:3; offered loads 0.3, 0.5, 0.6 of the link (FIFO would serve
    # them 21:36:43 %, not 17:33:50 %), each above its weighted share, so all
    # stay backlogged; packet sizes differ, since STFQ shares bytes.
    rate, until = 100_000_000, 500 * MS
    flows = ((0, 1500, 0.3), (1, 600, 0.5), (2, 1000, 0.6))
    streams = [
        wl.constant(load * rate / 8 / size, size, None, flow=f, dscp=8 * f, until_ns=until)
        for f, size, load in flows
    ]
    result = run("stfq", wl.merge(*streams), rate, until, weight=[1, 2, 3, 1, 1, 1, 1, 1])
    assert not any(k.startswith("drop") for k in result.counters)  # no tail drop picks the mix
    sent = Counter[int]()
    for r in delivered(result, until):
        sent[r.flow] += r.size
    total = sum(sent.values())
    assert total * 8 > 0.99 * rate * until / 1e9  # the link was kept busy
    for flow, weight in ((0, 1), (1, 2), (2, 3)):
        assert sent[flow] / total == pytest.approx(weight / 6, rel=0.01)


def test_srpt_mean_fct_is_at_most_fifos_on_websearch() -> None:
    # 300 web-search flows at 60 % load; jumbo frames and access links at half the
    # link rate keep FIFO's 1000 places from overflowing, so both complete every
    # flow and the comparison is over the same flows.
    link = 1_000_000_000
    arrivals = list(
        wl.flow_sizes(
            wl.load_cdf("websearch"),
            0.6,
            link,
            seed=1,
            flows=300,
            mtu=9000,
            access_rate_bps=link // 2,
        )
    )
    sizes = {a.packet.flow: a.packet.flow_size for a in arrivals}  # type: ignore[attr-defined]
    fct: dict[str, list[tuple[int, int]]] = {}
    for name in ("srpt", "fifo"):
        result = run(name, iter(arrivals), link)
        assert result.counters["dequeued"] == result.counters["enqueued"] == len(arrivals)
        done = completions(result.records, link, 0, sizes)
        assert len(done) == len(sizes) == 300
        fct[name] = [(c.size, c.fct_ns) for c in done]
    srpt, fifo = (statistics.fmean(f for _, f in fct[n]) for n in ("srpt", "fifo"))
    assert srpt <= fifo
    # and the gain is the small flows': they no longer wait behind large ones
    small = {n: statistics.fmean(f for s, f in fct[n] if s < 100_000) for n in fct}
    assert small["srpt"] < small["fifo"] / 2


@pytest.mark.parametrize("offered", [1.2, 2.0], ids=["queue-never-fills", "queue-overflows"])
def test_tbf_long_run_rate_is_the_configured_rate(offered: float) -> None:
    # A shaper at 100 Mbit/s on a 1 Gbit/s link, offered more than its rate. Its
    # long-run rate is measured after the first quarter of the run, when the
    # initial burst allowance is long spent; whether or not its queue overflows
    # (a refused packet must not use up the rate), it delivers the configured rate.
    link, rate, until = 1_000_000_000, 100_000_000, 400 * MS
    arrivals = wl.constant(offered * rate / 8 / 1000, 1000, None, until_ns=until)
    result = run("tbf", arrivals, link, until, rate=rate, burst=15_000)
    start = until // 4
    nbytes = sum(r.size for r in delivered(result, until) if r.departed > start)
    assert nbytes * 8 * 1e9 / (until - start) == pytest.approx(rate, rel=0.005)


@pytest.mark.parametrize(
    ("quantum", "sizes", "carry"),
    [
        (1500, (100, 300, 500, 1500), 0),  # sizes that divide the quantum: no deficit left over
        (1514, (64, 300, 700, 1500), 1500),  # a flow may carry less than one packet of deficit
    ],
    ids=["dividing-sizes", "mixed-sizes"],
)
def test_drr_byte_shares_within_one_quantum(
    quantum: int, sizes: tuple[int, ...], carry: int
) -> None:
    # Four flows of different packet sizes, each with a full queue at time 0 (all
    # start in round 0 with no deficit) and refilled at 50 % of the link, so none
    # ever empties. DRR gives every backlogged flow one quantum per round, so at
    # every departure the bytes sent differ by at most the quantum of the round
    # in progress plus the deficit a flow carries over (less than one packet).
    # The run spans some 400 rounds: well past the 64 ranks of the rounds PIFO's
    # window, whose advance must not reorder a round.
    rate, until = 100_000_000, 200 * MS
    full = [
        Arrival(0, wl.flow_packet(f, size)) for _ in range(1000) for f, size in enumerate(sizes)
    ]
    refill = [
        wl.constant(0.5 * rate / 8 / size, size, None, flow=f, start_ns=1, until_ns=until)
        for f, size in enumerate(sizes)
    ]
    result = run("drr", wl.merge(iter(full), *refill), rate, until, quantum=quantum)
    sent = Counter[int]()
    worst = 0
    for r in delivered(result, until):
        sent[r.flow] += r.size
        worst = max(worst, max(sent.values()) - min(sent.values()))
    assert min(sent.values()) > 300 * quantum  # every flow was served for 300 rounds
    assert worst <= quantum + carry
