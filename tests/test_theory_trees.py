"""wf2q, htb and hfq3 against queueing theory, in the simulator and in the kernel.

Each run is simulated at a link rate, with one frame on the wire at a time
(BQL fixed at one byte: the scheduler picks the next frame when the last one
is done, as the theory's packet server does), and xdpq's own link rate set to
it, which a program reads as ``link_rate``; the simulation's event log is
then replayed into the kernel program on a virtual clock
(``xdpq.testing.replay``), which must answer every event as the simulator
did, and the bound is checked on the kernel's own departures as well as the
simulator's. Sources are told apart in the kernel by their frame sizes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import pytest

from xdpq.codegen.python import scheduler_factory
from xdpq.ir.link import Bql, BqlMode, Shaper
from xdpq.library import compile_library
from xdpq.net.testbed import DUT, TestBed
from xdpq.packet import parse
from xdpq.runtime.params import write_params
from xdpq.sim.run import DROPPED, Arrival, FlowPacket, Simulation
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.rates import HtbClass, htb_shares
from xdpq.testing.replay import replay
from xdpq.testing.stepper import Stepper

pytestmark = pytest.mark.kernel

LINK = 100_000_000
MBIT = 1_000_000
MS = 1_000_000
US = 1_000


@dataclass(frozen=True)
class Source:
    """Frames of one size (which tells the source apart in the kernel) from one flow."""

    size: int
    dscp: int
    sport: int
    times: tuple[int, ...]  # arrival times, ns

    def frame(self) -> bytes:
        return frame(FrameSpec(self.size, sport=self.sport, dscp=self.dscp))


def steady(size: int, dscp: int, sport: int, bps: int, start: int, stop: int) -> Source:
    gap = size * 8 * 1_000_000_000 // bps
    return Source(size, dscp, sport, tuple(range(start, stop, gap)))


def bursts(size: int, dscp: int, sport: int, count: int, period: int, stop: int) -> Source:
    """``count`` frames at once every ``period``: a (count * size, count * size / period)
    leaky-bucket flow."""
    return Source(size, dscp, sport, tuple(t for t in range(0, stop, period)
                                           for _ in range(count)))


@dataclass(frozen=True)
class Departures:
    """Per source, (arrival, last bit out) of each frame delivered, in the simulator
    and in the kernel."""

    sim: list[list[tuple[int, int]]]
    kernel: list[list[tuple[int, int]]]

    def both(self) -> Iterator[list[list[tuple[int, int]]]]:
        yield self.sim
        yield self.kernel


def wire(size: int) -> int:
    return -(-size * 8 * 1_000_000_000 // LINK)


@pytest.fixture(scope="module")
def egress() -> Iterator[int]:
    """A device for the kernel's transmit path (runs outlast the slot pool)."""
    with TestBed() as bed, bed.enter(DUT):
        yield bed.ifindex("out0")


def run(name: str, params: dict[str, int | list[int]], sources: Sequence[Source],
        egress: int) -> Departures:
    sizes = [s.size for s in sources]
    assert len(set(sizes)) == len(sizes), "sources are told apart by their sizes"
    compiled = compile_library(name)
    frames = [s.frame() for s in sources]
    packets = [FlowPacket.of(parse(f), k) for k, f in enumerate(frames)]
    order = sorted((t, k) for k, s in enumerate(sources) for t in s.times)
    arrivals = [Arrival(t, packets[k]) for t, k in order]
    log: list[tuple[object, ...]] = []
    bql, shaper = Bql(BqlMode.FIXED, 1), Shaper(LINK)
    result = Simulation(scheduler_factory(compiled.program)(params), LINK, bql=bql,
                        shaper=shaper, trace=log).run(arrivals)
    sim: list[list[tuple[int, int]]] = [[] for _ in sources]
    for r in result.records:
        if r.departed != DROPPED:
            sim[r.flow].append((r.arrived, r.departed))
    with Stepper(compiled.obj_path, egress_ifindex=egress) as kernel:
        write_params(kernel.obj, compiled.program, params)
        kernel.set_bql(bql)
        kernel.set_shaper(shaper)
        sent = replay(kernel, log, [frames[k] for _, k in order], transmit=True)
    by_size = {s: k for k, s in enumerate(sizes)}
    kernel_out: list[list[int]] = [[] for _ in sources]
    for s in sent:
        kernel_out[by_size[s.len]].append(s.time + wire(s.len))
    assert [len(k) for k in kernel_out] == [len(s) for s in sim]
    # A source's frames leave in their order (a FIFO per flow): pair them with arrivals.
    kern = [[(a, d) for (a, _), d in zip(s, k, strict=True)] for s, k in zip(sim, kernel_out,
                                                                              strict=True)]
    return Departures(sim, kern)


def bps(deps: list[tuple[int, int]], size: int, start: int, stop: int) -> float:
    """Bits per second a source of ``size``-byte frames delivered between start and stop."""
    return sum(1 for _, d in deps if start <= d < stop) * size * 8 * 1e9 / (stop - start)


# -- WF2Q+ and the Parekh-Gallager bound ------------------------------------------------

@dataclass(frozen=True)
class Mix:
    """A tagged flow (DSCP class 0) that keeps within a token bucket, against greedy
    flows that keep the link busy; the tagged flow's delay bounds, ns."""

    sources: list[Source]
    params: dict[str, int | list[int]]
    pg: float  # Parekh and Gallager's, which WF2Q+ keeps
    sfq: float  # STFQ's own, looser


def leaky_bucket_mix(weight: int, greedy: Sequence[int], count: int, size: int,
                     period: int, greedy_bps: int) -> Mix:
    """The tagged flow, of weight ``weight``, sends ``count`` frames of ``size`` bytes at
    once every ``period`` ns: sigma = count * size, rho = sigma / period. Greedy flow k
    (class k + 1, weight greedy[k]) offers ``greedy_bps`` in frames of 1498 - k bytes."""
    tagged = bursts(size, 0, 1, count, period, 150 * MS)
    others = [steady(1498 - k, 8 * (k + 1), 11 + k, greedy_bps, 0, 150 * MS)
              for k in range(len(greedy))]
    g = Fraction(LINK * weight, weight + sum(greedy))  # the tagged flow's guaranteed rate
    sigma, rho = count * size * 8, Fraction(count * size * 8 * 10**9, period)
    assert rho <= g < LINK < rho + len(greedy) * greedy_bps, "a bucket within g, a busy link"
    lmax = max(size, *(s.size for s in others)) * 8
    # Parekh and Gallager (1993), for a (sigma, rho) flow with rho <= g through PGPS,
    # and Bennett and Zhang (1997) for WF2Q+: sigma / g + Lmax / C, Lmax the largest
    # frame of any flow, C the link rate.
    pg = sigma / g + Fraction(lmax, LINK)
    # STFQ (Goyal, Vin, Cheng 1996, theorem 4): (sigma - l) / g + the largest frame of
    # every other flow / C + l / C, l the flow's own frame: where PG has one largest
    # frame, it has one frame of every other flow.
    sfq = (sigma - size * 8) / g + Fraction(sum(s.size for s in others) * 8 + size * 8, LINK)
    params: dict[str, int | list[int]] = {"weight": [weight, *greedy,
                                                     *[1] * (7 - len(greedy))]}
    return Mix([tagged, *others], params, float(pg * 10**9), float(sfq * 10**9))


def worst_delay(deps: list[tuple[int, int]]) -> int:
    return max(d - a for a, d in deps)


MIXES = {
    # Two 1500-byte frames every millisecond (sigma = 3000 B, rho = 24 Mbit/s) against
    # seven greedy weight-1 flows of 20 Mbit/s: bounds 600 and 440 us.
    "7 against 7x1": (7, [1] * 7, 2, 1500, 1 * MS, 20 * MBIT),
    "21 against 7x1": (21, [1] * 7, 2, 1500, 1 * MS, 20 * MBIT),
    # Three 1000-byte frames every half millisecond (rho = 48 Mbit/s, g = 50) against
    # greedy flows of weights 1 to 5, 40 Mbit/s each: bound 599.84 us.
    "15 against 1..5": (15, [1, 2, 3, 4, 5], 3, 1000, MS // 2, 40 * MBIT),
}


@pytest.mark.parametrize("mix", MIXES)
def test_wf2q_keeps_the_parekh_gallager_bound_where_stfq_exceeds_it_within_its_own(
        mix: str, egress: int) -> None:
    # STFQ serves by start tag, so a burst's first frame waits behind a frame of every
    # greedy flow whose start tag ties with it; WF2Q+ serves it by its finish tag.
    m = leaky_bucket_mix(*MIXES[mix])
    stfq = run("stfq", m.params, m.sources, egress)
    wf2q = run("wf2q", m.params, m.sources, egress)
    for s, w in zip(stfq.both(), wf2q.both(), strict=True):
        assert worst_delay(w[0]) <= m.pg < worst_delay(s[0]) <= m.sfq


def test_wf2q_long_run_shares_follow_the_weights(egress: int) -> None:
    # Weights 1:2:3, offered 0.3, 0.5 and 0.6 of the link, each above its share; sizes
    # differ, since WF2Q+ shares bytes.
    flows = ((1500, 0.3), (600, 0.5), (1000, 0.6))
    sources = [steady(size, 8 * f, 1 + f, int(load * LINK), 0, 300 * MS)
               for f, (size, load) in enumerate(flows)]
    deps = run("wf2q", {"weight": [1, 2, 3, 1, 1, 1, 1, 1]}, sources, egress)
    for out in deps.both():
        for f, weight in enumerate((1, 2, 3)):
            got = bps(out[f], flows[f][0], 50 * MS, 300 * MS)
            assert got == pytest.approx(weight / 6 * LINK, rel=0.02), f


# -- HTB: rate, ceil and borrowing ----------------------------------------------------------

HTB = [HtbClass(0, 20 * MBIT, 100 * MBIT), HtbClass(8, 30 * MBIT, 40 * MBIT),
       HtbClass(16, 10 * MBIT, 100 * MBIT)]
HTB_PARAMS: dict[str, int | list[int]] = {"rate": [c.rate for c in HTB] + [10 * MBIT] * 5,
                                          "ceil": [c.ceil for c in HTB] + [LINK] * 5}


@pytest.mark.parametrize("offered", [
    (60, 60, 60),  # all borrow: class 1 stops at its ceil, 0 and 2 share the rest 2:1
    (60, 0, 60),   # class 1 idle: its rate is lent to 0 and 2
    (60, 15, 60),  # class 1 under its rate: it gets what it asks, the others the rest
    (10, 60, 5),   # class 1 alone borrows, up to its ceil; the link is not full
])
def test_htb_classes_get_their_rate_and_their_share_up_to_ceil(
        offered: tuple[int, int, int], egress: int) -> None:
    sizes = (1500, 1000, 1200)
    stop = 400 * MS
    sources = [steady(size, c.dscp, 1 + k, mbit * MBIT, 0, stop)
               for k, (c, size, mbit) in enumerate(zip(HTB, sizes, offered, strict=True))
               if mbit]
    deps = run("htb", HTB_PARAMS, sources, egress)
    want = htb_shares(LINK, HTB, [m * MBIT for m in offered])
    for out in deps.both():
        got = iter(out)
        for c, mbit in enumerate(offered):
            if mbit:
                measured = bps(next(got), sizes[c], 100 * MS, stop)
                assert measured == pytest.approx(want[c], rel=0.01), (c, want)


# -- Three levels: shares re-split at the level above -------------------------------------

# Tenants 0 and 1 weigh 1 and 3; users 0 and 1 in each weigh 1 and 2. Each user sends
# two flows of 40 Mbit/s. User (1, 1) is idle from 150 to 300 ms; tenant 0 stops at 300.
HFQ3 = {"tenant_weight": [1, 3, 1, 1, 1, 1, 1, 1], "user_weight": [1, 2, 1, 1, 1, 1, 1, 1],
        "flow_limit": 16 * 1024}
PHASES = [
    # from, to (ms), the share of the link of users (0, 0), (0, 1), (1, 0), (1, 1)
    (30, 150, (1 / 12, 2 / 12, 3 / 12, 6 / 12)),
    (180, 300, (1 / 12, 2 / 12, 9 / 12, 0)),  # flattened, (1, 0) would get 3/6
    (330, 450, (0, 0, 1 / 3, 2 / 3)),
]


def hfq3_sources() -> list[Source]:
    on = {(0, 0): [(0, 300)], (0, 1): [(0, 300)], (1, 0): [(0, 450)],
          (1, 1): [(0, 150), (300, 450)]}
    out = []
    for k, ((t, u), spans) in enumerate(on.items()):
        for f in range(2):
            size = 1500 - 2 * k - f
            times = tuple(x for a, b in spans
                          for x in steady(size, 8 * t + u, 100 + 2 * k + f, 40 * MBIT,
                                          a * MS, b * MS).times)
            out.append(Source(size, 8 * t + u, 100 + 2 * k + f, times))
    return out


def test_hfq3_each_level_keeps_its_weighted_share_when_a_subtree_goes_idle(
        egress: int) -> None:
    sources = hfq3_sources()
    deps = run("hfq3", HFQ3, sources, egress)
    for out in deps.both():
        for start, stop, shares in PHASES:
            for user, share in enumerate(shares):
                got = sum(bps(out[2 * user + f], sources[2 * user + f].size, start * MS,
                              stop * MS) for f in range(2))
                assert got == pytest.approx(share * LINK, rel=0.01, abs=0.001 * LINK), \
                    (start, user)
