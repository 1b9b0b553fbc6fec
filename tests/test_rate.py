"""The link rate on the veth bed: what the receiver gets, live changes, what binds,
the limit in time, and the default from the egress's speed.

Rates are measured at the receiver, in frame bytes over the span of arrival
times (the receiver's clock) while the queue stood, with the sender offering
twice the rate; no wall-clock figure of the test itself is asserted.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from verbs import Cli, deploy_args, nothing_left, wait_for

from conftest import REPO
from xdpq.ir.link import NS_BITS, OVERHEAD_MAX, RATE_MAX, Bql, Hold, Shaper
from xdpq.ir.outcomes import Deq
from xdpq.library import compile_library
from xdpq.net.links import link_info, link_speed
from xdpq.net.receiver import Receiver, rate_between, steady_rate
from xdpq.net.testbed import DUT, TestBed
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.runtime.deploy import Deployment, Stats
from xdpq.runtime.service import Spec, link_shaper
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.stepper import Stepper

pytestmark = pytest.mark.kernel

SIZE = 1000  # bytes per frame
FIFO = str(REPO / "schedulers/fifo.xdpq")


@pytest.mark.parametrize(("rate", "size", "overhead"), [
    (123_456_789, 1000, 0), (RATE_MAX, 1514, OVERHEAD_MAX), (10**6, 64, -64)])
def test_the_kernels_release_clock_does_not_drift(rate: int, size: int, overhead: int) -> None:
    # No burst: frame k goes exactly when k frames' worth of time has passed, to the
    # nanosecond, the fraction of each frame's time carried to the next (1000 frames:
    # any loss per frame would show). At 1 Tbit/s a frame takes 14.16 ns.
    raw, n = frame(FrameSpec(size)), 1000
    cost = max(size + overhead, 0) * NS_BITS
    with Stepper(compile_library("fifo").obj_path) as kernel:
        kernel.set_shaper(Shaper(rate, 0, overhead))
        for _ in range(n):
            kernel.ingress(raw, 0)
        now, sent = 0, []
        while len(sent) < n:
            step = kernel.step(now)
            if step.result == Hold.RATE:
                assert step.when > now
                now = step.when
            else:
                assert step.result == Deq.OK.value
                sent.append(now)
    assert sent == [k * cost // rate for k in range(n)]


def deploy(bed: TestBed, shaper: Shaper, bql: Bql | None = None) -> Deployment:
    compiled = compile_library("fifo")
    with bed.enter(DUT):
        return Deployment(compiled.obj_path, "in0", "out0", bql=bql, shaper=shaper,
                          program=compiled.program)


def offer(gen: TrafficGen, rate: int, seconds: float) -> int:
    """Twice ``rate`` for ``seconds``: a standing queue, and drops."""
    pps = 2 * rate / (8 * SIZE)
    return gen.send(count=int(pps * seconds), rate_pps=pps)


def drained(d: Deployment) -> None:
    wait_for(lambda: d.stats().backlog == 0 and d.stats().staged == 0)


def shaped(bed: TestBed, gen: TrafficGen, shaper: Shaper, seconds: float) -> tuple[int, Stats]:
    """Twice the rate for ``seconds`` through a FIFO under ``shaper``: what was sent, and
    the statistics once it drained."""
    d = deploy(bed, shaper)
    try:
        sent = offer(gen, shaper.rate, seconds)
        drained(d)
        return sent, d.stats()
    finally:
        d.close()


@pytest.mark.parametrize("rate", [20_000_000, 200_000_000])
def test_the_receiver_gets_the_rate(bed: TestBed, rate: int) -> None:
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=SIZE)]) as gen:
        sent, stats = shaped(bed, gen, Shaper(rate), 1.5)
        got = steady_rate(rcv.arrivals())
        dropped = sum(c.packets for k, c in stats.counters.items() if k.startswith("drop_"))
        assert sent == rcv.received + dropped + gen.refused
    # Never above the rate: at most a burst and a frame more over the window. Below
    # it only by what a late timer (beyond half the burst) or a stalled sender (the
    # queue ran empty: stops "empty") cost on a busy machine.
    assert 0.9 * rate <= got <= 1.01 * rate, (got / rate, stats.stops)
    assert stats.counters["drop_queue_full"].packets > 0  # the queue stood in xdpq
    assert stats.stops.counts["rate"] > 0


def test_a_new_rate_applies_at_once(bed: TestBed) -> None:
    slow, fast = 20_000_000, 60_000_000
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=SIZE)]) as gen:
        d = deploy(bed, Shaper(slow))
        try:
            start = time.monotonic_ns()  # bpf_ktime_get_ns's clock
            offer(gen, fast, 1.0)
            switch = time.monotonic_ns()
            d.set_shaper(Shaper(fast))
            offer(gen, fast, 1.0)
            end = time.monotonic_ns()
            drained(d)
            assert d.stats().shaper == Shaper(fast)
        finally:
            d.close()
        arrivals = rcv.arrivals()
    before = rate_between(arrivals, start + (switch - start) // 5, switch)
    after = rate_between(arrivals, switch + (end - switch) // 5, end)
    assert 0.9 * slow <= before <= 1.01 * slow, before / slow
    assert 0.9 * fast <= after <= 1.01 * fast, after / fast


def test_latency_bounds_the_queue_and_drops_what_exceeds_it(bed: TestBed) -> None:
    rate = 20_000_000
    shaper = Shaper(rate, latency_ns=20_000_000)  # 52,500 B: 52 frames; the fifo takes 1000
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=SIZE)]) as gen:
        sent, stats = shaped(bed, gen, shaper, 1.0)
        delays = [a.latency_ns for a in rcv.arrivals()]
        c = {k: v.packets for k, v in stats.counters.items()}
        assert sent == rcv.received + c["drop_overlimit"] + gen.refused
    assert c["drop_overlimit"] > 0 and c["drop_queue_full"] == 0
    assert stats.counters["drop_overlimit"].bytes == SIZE * c["drop_overlimit"]
    # The limit is 21 ms at the rate; the fifo alone would hold 400 ms.
    assert statistics.median(delays) < 100_000_000


def test_stats_say_which_limit_binds_and_set_changes_the_rate_live(cli: Cli,
                                                                   bed: TestBed) -> None:
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=SIZE)]) as gen:
        # Held by BQL (fixed:0) with 100 frames queued: BQL binds.
        cli.ok(*deploy_args(bed, "--detach", "--name", "r", "--bql", "fixed:0",
                            "--rate", "20Kbit", "--latency", "100s", file=FIFO))
        gen.send(100)
        wait_for(lambda: cli.stats("r")["backlog"] == 100)
        s = cli.stats("r")
        assert s["binding"] == "bql" and s["stops"]["bql"] > 0
        assert s["rate"]["setting"] == "rate 20Kbit burst 1ms latency 100s"
        assert s["rate"]["limit_bytes"] == 250_002 and s["rate"]["backlog_bytes"] == 100 * SIZE
        # Released: 20 kbit/s lets a frame go every 400 ms (the 100 take 40 s, however slow
        # a loaded host makes the commands between); the rate binds.
        cli.ok("set", "r", "--bql", "adaptive")
        wait_for(lambda: cli.stats("r")["binding"] == "rate")
        s = cli.stats("r")
        assert s["backlog"] > 50 and s["stops"]["rate"] > 0
        families = {f.name: f for f in text_string_to_metric_families(
            cli.ok("stats", "r", "--prometheus"))}
        binding = {x.labels["limit"]: x.value for x in families["xdpq_binding"].samples}
        assert binding == {"none": 0, "eligibility": 0, "rate": 1, "bql": 0}
        assert families["xdpq_rate_bps"].samples[0].value == 20_000
        assert "binding: rate" in cli.ok("stats", "r")
        # A fast rate, live: the backlog goes at once, and nothing binds.
        out = cli.ok("set", "r", "--rate", "1Gbit")
        assert "rate 1Gbit burst 1ms latency 100s (was rate 20Kbit burst 1ms latency 100s)" in out
        assert rcv.wait(100)
        wait_for(lambda: cli.stats("r")["binding"] == "none")
        assert json.loads(cli.ok("list", "--json"))[0]["extra"]["shaper"].startswith(
            "rate 1Gbit")
        cli.ok("down", "r")
    nothing_left(cli, bed)


def test_deploy_refuses_bad_rate_flags_and_turns_bql_off_under_a_rate(cli: Cli,
                                                                     bed: TestBed) -> None:
    with Receiver(bed):
        for flags, words in [
            (("--rate", "0"), ("--rate 0", "--rate off")),
            (("--rate", "5ms"), ("--rate 5ms", "expected a rate")),
            (("--rate", "10Mbit", "--latency", "100us"), ("--latency 100us", "1375 bytes")),
            (("--burst", "2ms"), ("--burst 2ms", "no rate", "--rate")),  # veth: no default
            (("--rate", "10Mbit", "--overhead", "300"), ("--overhead 300", "-64..256")),
        ]:
            r = cli(*deploy_args(bed, *flags, file=FIFO))
            assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
            for w in words:
                assert w in r.stderr, (w, r.stderr)
        assert cli.records() == []
        out = cli.ok(*deploy_args(bed, "--detach", "--name", "d", "--rate", "10Mbit",
                                  file=FIFO))
        assert "(rate 10Mbit burst 1ms, pid" in out
        assert json.loads(cli.ok("list", "--json"))[0]["bql"] == "off"
        cli.ok("down", "d")
    nothing_left(cli, bed)


def test_the_default_rate_leaves_veth_and_unset_taps_alone(bed: TestBed) -> None:
    tap = "xqtap0"
    with bed.enter(DUT):
        subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
        for name in ("out0", tap):
            info = link_info(name)
            assert link_speed(name) == 10_000  # what both report, whatever they carry
            assert link_shaper(Spec(REPO, "in0", name, []), info) == Shaper()
        # Asked for, a rate is a rate on any egress.
        assert link_shaper(Spec(REPO, "in0", "out0", [], rate="30Mbit", latency="20ms"),
                           link_info("out0")) == Shaper(30_000_000, latency_ns=20_000_000)
