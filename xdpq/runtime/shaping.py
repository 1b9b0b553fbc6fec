"""The link rate on the user's side: its flags, its default from the egress's speed,
and the scheduler object's globals that hold it (kern/shaper.h).

``xdpq deploy`` and ``xdpq set`` take ``--rate``, ``--burst``, ``--overhead`` and
``--latency``; the rule they set is :class:`xdpq.ir.link.Shaper`'s.

**The default** (``--rate auto``, what deploy does unless told): on a physical NIC
that reports its speed, 95 % of that speed, counted on the wire (overhead 24 unless
``--overhead`` says otherwise). The NIC's own queue has no completion source for
BQL, so without a rate below its speed it, not the scheduler, would hold the
backlog; the 5 % leave room for what the host's stack sends out of the same NIC,
which xdpq does not see (CAKE's advice: shape to 90-95 % of the link). A tap counts
as a NIC once its speed was set (``ethtool -s TAP speed N``): until then it reports
10000 Mb/s, as every veth does, whatever it really carries. Anything else (veth,
bridge, bond, VLAN ...) gets no rate unless ``--rate`` gives one: xdpq never rate
limits a veth by itself.
"""

from __future__ import annotations

import struct

from xdpq.bpf import BpfObject, Program, xdp_ctx
from xdpq.errors import XdpqError
from xdpq.ir.link import ETHERNET_OVERHEAD, Shaper, ShaperError, burst_time
from xdpq.units import Kind, Quantity, UnitError, quantity

AUTO, OFF = "auto", "off"
SPEED_SHARE = 95  # percent of a NIC's speed: the default rate
TAP_UNSET_SPEED = 10_000  # Mb/s: what a tap reports until its speed is set
FLAGS = ("rate", "burst", "overhead", "latency")


def default_shaper(kind: str, speed_mbps: int | None) -> Shaper:
    """What ``--rate auto`` gives on an egress of link kind ``kind`` ("" for a physical
    NIC, "tun" for a tap) whose ethtool speed is ``speed_mbps`` (None: unknown)."""
    if not speed_mbps or speed_mbps < 0:
        return Shaper()
    if kind == "" or (kind == "tun" and speed_mbps != TAP_UNSET_SPEED):
        return Shaper(speed_mbps * 10**6 * SPEED_SHARE // 100, overhead=ETHERNET_OVERHEAD)
    return Shaper()


def _quantity(flag: str, text: str, *kinds: Kind) -> Quantity:
    try:
        q = quantity(text.strip(), want=kinds[0] if len(kinds) == 1 else None)
    except UnitError as exc:
        raise ShaperError(flag, f"{exc}{f' ({exc.hint})' if exc.hint else ''}") from None
    if q.kind not in kinds:
        want = " or ".join({Kind.RATE: "a rate (e.g. 100Mbit)", Kind.TIME: "a time (e.g. 1ms)",
                            Kind.BYTES: "a size (e.g. 12kb)"}[k] for k in kinds)
        raise ShaperError(flag, f"expected {want}, got {text!r}, which is {q.kind.value}")
    return q


def shaper_from_flags(base: Shaper, rate: str | None = None, burst: str | None = None,
                      overhead: str | None = None, latency: str | None = None) -> Shaper:
    """``base`` with the flags that were given (their text) applied; a burst given as a
    size is converted at the resulting rate. ``--rate off`` also ends the limit in time.
    Errors name the flag and say what it takes."""
    given = {"rate": rate, "burst": burst, "overhead": overhead, "latency": latency}
    try:
        r = base.rate
        if rate == OFF:
            r = 0
        elif rate is not None and (
                rate.strip() == "0" or not (r := _quantity("rate", rate, Kind.RATE).value)):
            raise ShaperError("rate", "a rate of 0 sends nothing: say --rate off for none")
        for flag in ("burst", "overhead"):
            if given[flag] is not None and not r:
                raise ShaperError(flag, "there is no rate to apply it to: give --rate")
        b = base.burst_ns if burst is None else burst_time(
            _quantity("burst", burst, Kind.TIME, Kind.BYTES), r)
        o = base.overhead
        if overhead is not None:
            try:
                o = int(overhead)
            except ValueError:
                raise ShaperError("overhead", f"expected a whole number of bytes per frame "
                                              f"(e.g. 24), got {overhead!r}") from None
        lat = 0 if not r and latency is None else base.latency_ns
        if latency is not None:
            lat = 0 if latency == OFF else _quantity("latency", latency, Kind.TIME).value
        return Shaper(r, b, o, lat)
    except ShaperError as exc:
        text = given[exc.field]
        raise XdpqError(f"--{exc.field}{f' {text}' if text is not None else ''}: "
                        f"{exc.message}") from None


# -- the scheduler object's globals -------------------------------------------------------


def write_shaper(obj: BpfObject, shaper: Shaper, release: Program | None = None) -> None:
    """Write the link rate into the scheduler's globals, the rate last (a run that sees
    the new rate sees its burst too); with ``release`` (its ``xdpq_release`` program,
    loaded or pinned), run it, so that a scheduler waiting for the old rate's release
    time looks again at once."""
    bss = obj.section(".bss")
    bss["xdpq_shape_burst_ns"] = shaper.burst_ns
    bss["xdpq_shape_overhead"] = shaper.overhead
    bss["xdpq_shape_latency_ns"] = shaper.latency_ns
    bss["xdpq_shape_limit"] = shaper.limit
    bss["xdpq_shape_rate"] = shaper.rate
    if release is not None:
        release.run(bytes(64), ctx=xdp_ctx(64))


def read_shaper(obj: BpfObject) -> Shaper:
    bss = obj.section(".bss")
    (overhead,) = struct.unpack("=i", bss.read("xdpq_shape_overhead"))
    return Shaper(bss["xdpq_shape_rate"], bss["xdpq_shape_burst_ns"], overhead,
                  bss["xdpq_shape_latency_ns"])
