"""Achieved rates on one veth bed: xdpq's link rate, the library's ``tbf`` and ``htb``,
and tc's tbf and htb.

The sender offers twice the rate in 1514-byte frames for a few seconds through

- ``xdpq``: the library's FIFO between in0 and out0 with ``--rate R --latency
  50ms`` (the default burst; BQL as deploy has it under a rate, off);
- ``tbf.xdpq``: the library's token-bucket scheduler (GCRA, eligibility times)
  with ``rate=R`` and a burst of 1 ms at the rate (at least two frames);
- ``tc tbf``: the kernel's own path, a bridge of in0 and out0 in the DUT, with
  ``tc qdisc tbf rate R burst B latency 50ms`` on out0, B being xdpq's burst
  plus one frame (tbf's bucket holds the frame itself).

and, for classes sharing a link rate R (HTB's rate, ceil and borrowing):

- ``htb.xdpq``: the library's ``htb`` scheduler with each class's rate and ceil,
  behind ``--rate R --latency 50ms``;
- ``tc htb``: on the same bridge, ``tc qdisc htb`` on out0 with a root class of
  rate and ceil R and one class per DSCP class, chosen by a u32 filter on the DSCP,
  each with the same rate, ceil and burst.

The achieved rate is counted in frame bytes (Ethernet header to the end of the
payload, as all three count) at the receiver's interface, over the arrival
times the receiver logs, without the first and last fifth of their span (the
queue filling up, the drain). The error is (achieved - rate) / rate.

Shared by ``bench/bottleneck.py`` and the tests.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pyroute2 import NetNS
from pyroute2.ethtool import Ethtool

from xdpq.ir.layout import POOL_SLOTS
from xdpq.ir.link import DEFAULT_BURST_NS, MTU_FRAME, NS_BITS, Shaper
from xdpq.library import compile_library
from xdpq.net.receiver import Receiver, rate_between, steady_rate
from xdpq.net.testbed import DUT, TestBed
from xdpq.net.trafficgen import TrafficGen
from xdpq.runtime.deploy import Deployment

LATENCY_NS = 50_000_000


def offer(bed: TestBed, gen: TrafficGen, rate: int, seconds: float,
          load: float = 2.0) -> dict[str, object]:
    """``load`` times ``rate`` (twice, unless told) for ``seconds``; the rate the receiver
    saw, once all is in, and the rate of each DSCP among the frames (``dscp_bps``), over
    the same steady span."""
    with Receiver(bed) as rcv:
        pps = load * rate / (8 * MTU_FRAME)
        sent = gen.send(count=int(pps * seconds), rate_pps=pps, timeout_s=4 * seconds + 10)
        time.sleep(0.1 + (LATENCY_NS + DEFAULT_BURST_NS) / 1e9)  # the queue drains
        arrivals = rcv.arrivals()
    got = steady_rate(arrivals)
    out: dict[str, object] = {
        "achieved_bps": round(got), "error_pct": round(100 * (got - rate) / rate, 3),
        "offered_frames": int(sent), "received_frames": len(arrivals),
        "sender_s": round(sent.elapsed_s, 2)}
    if arrivals:
        first, last = min(a.at_ns for a in arrivals), max(a.at_ns for a in arrivals)
        cut = (last - first) // 5  # steady_rate's span
        out["dscp_bps"] = {d: round(rate_between([a for a in arrivals if a.dscp == d],
                                                 first + cut, last - cut))
                           for d in sorted({a.dscp for a in arrivals})}
    return out


def _deployed(bed: TestBed, gen: TrafficGen, rate: int, seconds: float, scheduler: str,
              params: dict[str, int], shaper: Shaper) -> dict[str, object]:
    compiled = compile_library(scheduler)
    with bed.enter(DUT):
        d = Deployment(compiled.obj_path, "in0", "out0", program=compiled.program,
                       params=params, shaper=shaper)  # type: ignore[arg-type]
    try:
        before = d.stats().stops.counts
        out: dict[str, object] = dict(offer(bed, gen, rate, seconds))
        after = d.stats()
    finally:
        d.close()
    out["stops"] = {k: after.stops.counts[k] - before[k] for k in before}
    out["drops"] = {k: v.packets for k, v in after.counters.items()
                    if k.startswith("drop_") and v.packets}
    return out


def xdpq_rate(bed: TestBed, gen: TrafficGen, rate: int, seconds: float) -> dict[str, object]:
    """The library's FIFO behind ``--rate rate --latency 50ms``."""
    return _deployed(bed, gen, rate, seconds, "fifo", {}, Shaper(rate, latency_ns=LATENCY_NS))


def tbf_burst(rate: int) -> int:
    """1 ms at the rate, and at least two frames."""
    return max(2 * MTU_FRAME, DEFAULT_BURST_NS * rate // NS_BITS)


def xdpq_tbf(bed: TestBed, gen: TrafficGen, rate: int, seconds: float) -> dict[str, object]:
    """The library's ``tbf`` scheduler at ``rate`` (no link rate: it shapes by itself)."""
    return _deployed(bed, gen, rate, seconds, "tbf", {"rate": rate, "burst": tbf_burst(rate)},
                     Shaper())


def tc_tbf(bed: TestBed, gen: TrafficGen, rate: int, seconds: float) -> dict[str, object]:
    """tc's tbf on out0, the kernel bridging in0 and out0 (see :func:`bridged`)."""
    with tbf(bed, rate) as burst:
        out: dict[str, object] = dict(offer(bed, gen, rate, seconds))
    out["burst_bytes"] = burst
    return out


@dataclass(frozen=True, slots=True)
class HtbClass:
    """One class of HTB: the frames of DSCP class ``dscp // 8`` (``htb.xdpq``'s classes)."""

    dscp: int
    rate: int  # bit/s
    ceil: int


HTB_BURST = 15_000  # bytes, of every class's rate and ceil buckets


def htb_shares(link: int, classes: Sequence[HtbClass], demand: Sequence[float]) -> list[float]:
    """What HTB gives each class offered ``demand`` (bit/s): its rate (or its demand or
    ceil, if less), and of what the link has left a share in proportion to the rates
    among the classes that want more, each up to min(demand, ceil) (water-filling)."""
    want = [min(d, c.ceil) for d, c in zip(demand, classes, strict=True)]
    got = [float(min(c.rate, w)) for c, w in zip(classes, want, strict=True)]
    left = link - sum(got)
    hungry = [k for k in range(len(got)) if got[k] < want[k]]
    while hungry and left > 1e-6:
        weight = sum(classes[k].rate for k in hungry)
        share = {k: left * classes[k].rate / weight for k in hungry}
        capped = [k for k in hungry if got[k] + share[k] >= want[k]]
        if not capped:
            for k in hungry:
                got[k] += share[k]
            break
        for k in capped:
            left -= want[k] - got[k]
            got[k] = want[k]
        hungry = [k for k in hungry if k not in capped]
    return got


def xdpq_htb(bed: TestBed, gen: TrafficGen, rate: int, classes: Sequence[HtbClass],
             seconds: float) -> dict[str, object]:
    """The library's ``htb`` with ``classes`` behind ``--rate rate --latency 50ms``."""
    rates, ceils = [rate] * 8, [rate] * 8
    for c in classes:
        rates[c.dscp // 8], ceils[c.dscp // 8] = c.rate, c.ceil
    # The link rate's byte limit above what the classes' own queues hold, so that
    # each class's queue (not the shared limit) decides what it keeps, as in tc's htb.
    held = 8 * POOL_SLOTS * MTU_FRAME * NS_BITS // rate
    return _deployed(bed, gen, rate, seconds, "htb",
                     {"rate": rates, "ceil": ceils, "burst": HTB_BURST},  # type: ignore[dict-item]
                     Shaper(rate, latency_ns=held))


def tc_htb(bed: TestBed, gen: TrafficGen, rate: int, classes: Sequence[HtbClass],
           seconds: float) -> dict[str, object]:
    """tc's htb on out0, the kernel bridging in0 and out0 (see :func:`bridged`): a root
    class at ``rate`` and one class per entry of ``classes``, chosen by DSCP."""
    tc = ["tc", "-n", bed.ns[DUT]]
    burst = ["burst", str(HTB_BURST), "cburst", str(HTB_BURST)]
    cmds = [["qdisc", "replace", "dev", "out0", "root", "handle", "1:", "htb"],
            ["class", "add", "dev", "out0", "parent", "1:", "classid", "1:1", "htb",
             "rate", f"{rate}bit", "ceil", f"{rate}bit", *burst]]
    slowest = min(c.rate for c in classes)
    for k, c in enumerate(classes, start=10):
        quantum = str(MTU_FRAME * c.rate // slowest)
        cmds += [["class", "add", "dev", "out0", "parent", "1:1", "classid", f"1:{k}", "htb",
                  "rate", f"{c.rate}bit", "ceil", f"{c.ceil}bit", *burst, "quantum", quantum],
                 ["qdisc", "add", "dev", "out0", "parent", f"1:{k}", "pfifo", "limit", "1000"],
                 ["filter", "add", "dev", "out0", "parent", "1:", "protocol", "ip", "prio", "1",
                  "u32", "match", "ip", "dsfield", hex(c.dscp << 2), "0xfc", "flowid", f"1:{k}"]]
    try:
        for cmd in cmds:
            subprocess.run([*tc, *cmd], check=True)
        out: dict[str, object] = dict(offer(bed, gen, rate, seconds))
    finally:
        subprocess.run([*tc, "qdisc", "del", "dev", "out0", "root"], check=False)
    return out


@contextmanager
def tbf(bed: TestBed, rate: int, latency_ns: int = LATENCY_NS) -> Iterator[int]:
    """``tc qdisc tbf`` on out0 at ``rate`` while in the block: xdpq's burst plus one frame
    (tbf's bucket holds the frame itself), the limit ``latency_ns`` at the rate. Yields
    the burst in bytes."""
    burst = DEFAULT_BURST_NS * rate // NS_BITS + MTU_FRAME
    tc = ["tc", "-n", bed.ns[DUT], "qdisc"]
    subprocess.run([*tc, "replace", "dev", "out0", "root", "tbf", "rate", f"{rate}bit",
                    "burst", str(burst), "latency", f"{latency_ns // 1000}us"], check=True)
    try:
        yield burst
    finally:
        subprocess.run([*tc, "del", "dev", "out0", "root"], check=True)


@contextmanager
def bridged(bed: TestBed) -> Iterator[None]:
    """The kernel's own path through the DUT, for tc: a bridge of in0 and out0 (the
    hosts are in one subnet); in0 takes the sender's frames into the stack once it has
    GRO on (or an XDP program, as with xdpq). The bridge goes on the way out."""
    with NetNS(bed.ns[DUT]) as ns:
        ns.link("add", ifname="br0", kind="bridge")
        br = ns.link_lookup(ifname="br0")[0]
        for port in ("in0", "out0"):
            ns.link("set", index=ns.link_lookup(ifname=port)[0], master=br)
        ns.link("set", index=br, state="up")
    with bed.enter(DUT), Ethtool() as et:
        et.set_offload_flag("in0", "generic-receive-offload", 1)
    try:
        yield
    finally:
        with NetNS(bed.ns[DUT]) as ns:
            ns.link("del", index=ns.link_lookup(ifname="br0")[0])
