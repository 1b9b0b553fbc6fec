"""The link rate's rule (xdpq.ir.link.Shaper) in the simulator, its settings as flags and
scenario keys, and the default from the egress's speed. The kernel's side of the same
rule: tests/test_twins.py and tests/test_rate.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xdpq.codegen.python import load_scheduler
from xdpq.errors import XdpqError
from xdpq.ir.link import (
    DEFAULT_BURST_NS,
    NS_BITS,
    Bql,
    BqlMode,
    Shaper,
    ShaperError,
    default_bql,
)
from xdpq.library import library_path
from xdpq.runtime.shaping import default_shaper, shaper_from_flags
from xdpq.sim import workload as wl
from xdpq.sim.run import DROPPED, Simulation
from xdpq.sim.scenario import ScenarioError, load_scenario

MS = 1_000_000
LINK = 10**9  # the device: a 1 Gbit/s wire


def fifo_run(shaper: Shaper, offered_bps: float, size: int, until: int,
             bql: Bql | None = None) -> list:
    sim = Simulation(load_scheduler(library_path("fifo")), LINK, bql=bql or Bql(BqlMode.OFF),
                     shaper=shaper)
    arrivals = wl.constant(offered_bps / 8 / size, size, None, until_ns=until)
    return sim.run(arrivals, until=until)


@pytest.mark.parametrize("rate", [10**7, 123_456_789, 5 * 10**8])
def test_departures_never_exceed_the_rate_and_keep_up_with_it(rate: int) -> None:
    # Offered twice the rate: from the first departure on, the bytes that left by any
    # time are the rate's worth plus the burst and one frame at most, and the rate's
    # worth less one frame at least (less frame time: the first frame's own).
    size, until = 1000, 100 * MS
    result = fifo_run(Shaper(rate), 2 * rate, size, until)
    gone = sorted(r.departed for r in result.records if r.departed != DROPPED)
    burst_bytes = DEFAULT_BURST_NS * rate // NS_BITS
    t0 = gone[0]
    for n, t in enumerate(gone, start=1):
        worth = (t - t0) * rate / NS_BITS
        assert n * size <= worth + burst_bytes + 2 * size
        assert n * size >= worth - size
    assert len(gone) * size > (until - t0) * rate / NS_BITS - size  # it kept up to the end


def test_the_release_clock_does_not_drift() -> None:
    # With no burst, frame k leaves exactly when k frames' worth of time has passed,
    # to the nanosecond: the fraction of each frame's time is carried, never lost.
    rate, size, n = 123_456_789, 1000, 5000
    result = fifo_run(Shaper(rate, 0), 2 * rate, size, 400 * MS)
    gone = [r.departed for r in result.records if r.departed != DROPPED][:n]
    assert len(gone) == n
    assert [t - gone[0] for t in gone] == [k * size * NS_BITS // rate for k in range(n)]


def test_overhead_counts_per_frame() -> None:
    rate, size = 10**8, 100
    plain = fifo_run(Shaper(rate), 2 * rate, size, 50 * MS)
    wire = fifo_run(Shaper(rate, overhead=24), 2 * rate, size, 50 * MS)
    done = [sum(r.departed != DROPPED for r in x.records) for x in (plain, wire)]
    assert done[1] / done[0] == pytest.approx(100 / 124, rel=0.01)


def test_latency_drops_what_exceeds_the_rates_worth_and_nothing_else() -> None:
    rate, size = 10**7, 1000
    shaper = Shaper(rate, latency_ns=20 * MS)  # 26,250 B: 26 frames
    result = fifo_run(shaper, 2 * rate, size, 200 * MS)
    assert shaper.limit == 26_250
    assert result.counters["drop_overlimit"] > 0 and result.counters["drop_queue_full"] == 0
    delays = [r.departed - r.arrived for r in result.records if r.departed != DROPPED]
    assert max(delays) <= (shaper.limit + size) * NS_BITS // rate


def test_with_bql_both_must_allow() -> None:
    # A device slower than the rate: BQL binds, the rate never holds the scheduler.
    log: list[tuple[object, ...]] = []
    sim = Simulation(load_scheduler(library_path("fifo")), 10**7, bql=Bql(), trace=log,
                     shaper=Shaper(10**8))
    sim.run(wl.constant(2 * 10**7 / 8 / 1000, 1000, None, until_ns=50 * MS), until=50 * MS)
    kinds = {e[0] for e in log}
    assert "blocked" in kinds and "held" not in kinds


def test_the_limit_is_tbfs_and_the_settings_are_checked() -> None:
    # tc tbf: limit = rate * latency + burst
    assert Shaper(10**8, 2 * MS, 0, 50 * MS).limit == 10**8 * 52 * MS // NS_BITS
    assert Shaper(10**8).limit == 0 and Shaper().describe() == "rate off"
    assert Shaper(10**8, overhead=24, latency_ns=50 * MS).describe() == \
        "rate 100Mbit burst 1ms overhead 24 latency 50ms"
    for kwargs, field in [({"rate": 999}, "rate"), ({"rate": 10**13}, "rate"),
                          ({"rate": 10**8, "overhead": -65}, "overhead"),
                          ({"rate": 10**8, "burst_ns": 2 * 10**9}, "burst"),
                          ({"latency_ns": MS}, "latency"),
                          ({"rate": 10**6, "latency_ns": MS}, "latency")]:
        with pytest.raises(ShaperError) as err:
            Shaper(**kwargs)
        assert err.value.field == field


def test_flags_change_what_they_name() -> None:
    base = Shaper(10**8, 2 * MS, 24, 50 * MS)
    assert shaper_from_flags(base, rate="200Mbit") == Shaper(2 * 10**8, 2 * MS, 24, 50 * MS)
    assert shaper_from_flags(base, burst="25000B") == Shaper(10**8, 2 * MS, 24, 50 * MS)
    assert shaper_from_flags(base, burst="12500B", rate="50Mbit").burst_ns == 2 * MS
    assert shaper_from_flags(base, overhead="-14").overhead == -14
    assert shaper_from_flags(base, latency="off").latency_ns == 0
    assert shaper_from_flags(base, rate="off") == Shaper(0, 2 * MS, 24, 0)  # and no limit
    for flags, words in [({"rate": "0"}, "--rate off"), ({"rate": "fast"}, "not a number"),
                         ({"rate": "10ms"}, "expected a rate"),
                         ({"burst": "10Mbit"}, "a time (e.g. 1ms) or a size"),
                         ({"overhead": "24B"}, "whole number of bytes"),
                         ({"burst": "1ms", "rate": "off"}, "no rate"),
                         ({"latency": "1ms", "rate": "1Mbit"}, "less than one full frame")]:
        with pytest.raises(XdpqError, match=f"^--{next(iter(flags))} .*{re.escape(words)}"):
            shaper_from_flags(base, **flags)


@pytest.mark.parametrize(("kind", "speed", "rate"), [
    ("", 1000, 950_000_000),  # a NIC: 95 % of its speed, on the wire
    ("", 100_000, 95 * 10**9),
    ("", None, 0),  # no speed (link down, unknown): no rate
    ("veth", 10_000, 0),  # never a veth
    ("tun", 10_000, 0),  # a tap whose speed was never set
    ("tun", 100, 95_000_000),  # ... and one whose speed was
    ("bridge", None, 0),
    ("bond", 20_000, 0),
])
def test_the_default_rate_from_the_egress_speed(kind: str, speed: int | None,
                                                rate: int) -> None:
    shaper = default_shaper(kind, speed)
    assert shaper.rate == rate
    assert shaper.overhead == (24 if rate else 0)


SCENARIO = """
name = "s"
duration = "20ms"
[link]
rate = "1Gbit"
bql = "off"
{link}
[scheduler]
file = "{fifo}"
[[workload]]
kind = "constant"
rate = "40Mbit"
size = "1000B"
"""


def scenario(tmp_path: Path, link: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(link=link, fifo=library_path("fifo")))
    return path


def test_scenario_link_keys_mirror_the_deploy_flags(tmp_path: Path) -> None:
    s = load_scenario(scenario(tmp_path, 'shape = "20Mbit"\nburst = "5000B"\noverhead = 24\n'
                                         'latency = "30ms"'))
    assert s.link.shaper == Shaper(20_000_000, 2 * MS, 24, 30 * MS)
    assert s.link.rate_bps == 10**9
    assert load_scenario(scenario(tmp_path, "")).link.shaper == Shaper()


def test_bql_is_off_under_a_rate_unless_asked_for(tmp_path: Path) -> None:
    assert default_bql(Shaper()) == Bql() and default_bql(Shaper(10**8)) == Bql(BqlMode.OFF)
    for text in ("adaptive", "off", "fixed:3000"):
        assert str(Bql.parse(text)) == text
    link = SCENARIO.replace('bql = "off"\n', "")
    for extra, mode in [("", BqlMode.ADAPTIVE), ('shape = "20Mbit"', BqlMode.OFF),
                        ('shape = "20Mbit"\nbql = "adaptive"', BqlMode.ADAPTIVE)]:
        path = tmp_path / "b.toml"
        path.write_text(link.format(link=extra, fifo=library_path("fifo")))
        assert load_scenario(path).link.bql.mode is mode


@pytest.mark.parametrize(("link", "key", "words"), [
    ('shape = "20ms"', "link.shape", "expected a rate"),
    ('burst = "1ms"', "link.burst", "no rate"),
    ('shape = "20Mbit"\nburst = "1Mbit"', "link.burst", "a time"),
    ('shape = "20Mbit"\nburst = true', "link.burst", "a time"),
    ('shape = "20Mbit"\noverhead = 999', "link.overhead", "-64..256"),
    ('shape = "2Mbit"\nlatency = "10us"', "link.latency", "less than one full frame"),
    ('shaper = "20Mbit"', "link.shaper", "unknown key"),
])
def test_scenario_link_key_errors_name_the_key(tmp_path: Path, link: str, key: str,
                                               words: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(scenario(tmp_path, link))
    assert err.value.key == key and words in str(err.value)
