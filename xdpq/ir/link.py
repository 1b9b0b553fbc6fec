"""The egress model both executions share: BQL, the link rate, and their constants.

BQL. The datapath (kern/datapath.h) moves packets into the device while the
bytes in flight stay under a limit; the simulator's link (``xdpq.sim.run``)
does the same over a device that serializes one frame at a time at the link
rate. A completion retires its bytes, may adapt the limit, and lets the
scheduler run again. The adaptive rule is Linux's dynamic queue limits':
grow by what completed when the device starved while packets waited (the
limit held the scheduler at the last completion and every frame in flight
then is complete now, or it holds it now and nothing is left in flight);
over a hold period in which the limit never stopped the scheduler, shrink
to the peak in flight; stay within
``BQL_MIN``..``BQL_MAX`` (docs/datapath.md states it; ``tests/test_twins.py``
holds the constants and the rule to the kernel's).

The link rate (:class:`Shaper`, kern/shaper.h) is xdpq's own token bucket
at the root of the scheduler, for an egress without a completion source, or
to emulate a slower link. Where both are on, the scheduler releases a frame
only when both allow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from xdpq import units
from xdpq.errors import XdpqError
from xdpq.units import Kind, Quantity

MTU_FRAME = 1514  # an Ethernet frame carrying a 1500-byte IP packet
BQL_MIN, BQL_MAX, BQL_HOLD_NS = MTU_FRAME, 4 * 1024 * 1024, 1_000_000
NS_BITS = 8 * 1_000_000_000  # a byte's bits, times nanoseconds per second

RATE_MIN, RATE_MAX = 1000, 10**12  # bit/s; kern/shaper.h's arithmetic holds to 1 Tbit/s
# The default burst. The scheduler's timer comes tens of microseconds late on a
# VM, now and then far later; a run late by up to half the burst loses no rate, and
# stopped by the rate the scheduler waits for half a burst, so it runs at most about
# 2000 times a second whatever the rate. 1 ms is 125 KB at 1 Gbit/s, less than one
# frame at 10 Mbit/s (a frame may always go once its time has come).
DEFAULT_BURST_NS = 1_000_000
BURST_MAX_NS = 1_000_000_000
OVERHEAD_MIN, OVERHEAD_MAX = -64, 256  # bytes per frame, CAKE's range
ETHERNET_OVERHEAD = 24  # on the wire beyond the frame: preamble 8, FCS 4, inter-frame gap 12


class BqlMode(IntEnum):
    """``enum xdpq_bql_mode`` (kern/datapath.h)."""

    OFF = 0
    FIXED = 1
    ADAPTIVE = 2


@dataclass(frozen=True, slots=True)
class Bql:
    mode: BqlMode = BqlMode.ADAPTIVE
    limit: int = 64 * 1024  # bytes: the fixed limit, or where adaptive starts

    @classmethod
    def parse(cls, text: str, option: str = "--bql ") -> Bql:
        """``adaptive``, ``off`` or ``fixed:BYTES`` (a size, e.g. ``fixed:30kb``); errors
        name the text as ``option`` did."""
        match text.split(":", 1):
            case ["adaptive"]:
                return cls(BqlMode.ADAPTIVE)
            case ["off"]:
                return cls(BqlMode.OFF)
            case ["fixed", n]:
                try:
                    return cls(BqlMode.FIXED, units.value(n, units.Kind.BYTES))
                except units.UnitError as exc:
                    hint = exc.hint if exc.hint.startswith("write") else "e.g. fixed:30kb"
                    raise XdpqError(f"{option}{text!r}: {exc}; {hint}") from None
        raise XdpqError(f"{option}{text!r}: expected adaptive, off or fixed:BYTES "
                        "(e.g. fixed:30000 or fixed:30kb)")

    def __str__(self) -> str:
        """As :meth:`parse` reads it."""
        return f"fixed:{self.limit}" if self.mode is BqlMode.FIXED else self.mode.name.lower()

    @classmethod
    def hold(cls) -> Bql:
        """A fixed limit of zero: the scheduler queues but sends nothing."""
        return cls(BqlMode.FIXED, 0)


class Hold(IntEnum):
    """``enum xdpq_hold`` (kern/datapath.h): a scheduler run that stopped on a limit."""

    RATE = -2
    BQL = -1


class ShaperError(XdpqError):
    """A link rate setting that cannot be: ``field`` is the one at fault (rate, burst,
    overhead or latency), for the caller to name as its user wrote it."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class Shaper:
    """xdpq's own link rate (kern/shaper.h), and the byte limit of its queues.

    A release clock ``t``: a frame may be released while ``t <= now + burst``; a
    released frame moves ``t`` (from ``now``, if ``t`` is behind it) on by
    ``(len + overhead) * 8e9 / rate`` ns, exactly (the fraction of a nanosecond is
    carried to the next frame). Bytes are the frame's (Ethernet header to the end of
    the payload, as tc counts them) plus ``overhead`` (24 for what Ethernet adds on
    the wire). Stopped by the rate, the scheduler runs again at ``t - burst / 2``.
    ``latency`` bounds the bytes queued to the rate times latency and burst (tc tbf's
    ``limit``): an arrival that would exceed it is dropped (``drop_overlimit``).
    """

    rate: int = 0  # bit/s; 0: no rate limit
    burst_ns: int = DEFAULT_BURST_NS
    overhead: int = 0
    latency_ns: int = 0  # 0: no byte limit

    def __post_init__(self) -> None:
        if self.rate and not RATE_MIN <= self.rate <= RATE_MAX:
            raise ShaperError("rate", f"{units.show(Kind.RATE, self.rate)} is outside "
                                      f"{units.show(Kind.RATE, RATE_MIN)}.."
                                      f"{units.show(Kind.RATE, RATE_MAX)}")
        if not 0 <= self.burst_ns <= BURST_MAX_NS:
            raise ShaperError("burst", f"{units.show(Kind.TIME, self.burst_ns)} is more "
                                       f"than {units.show(Kind.TIME, BURST_MAX_NS)}")
        if not OVERHEAD_MIN <= self.overhead <= OVERHEAD_MAX:
            raise ShaperError("overhead", f"{self.overhead} bytes is outside "
                                          f"{OVERHEAD_MIN}..{OVERHEAD_MAX}")
        if self.latency_ns and not self.rate:
            raise ShaperError("latency", "a limit in time needs a rate to count it at")
        if self.latency_ns and self.limit < MTU_FRAME:
            raise ShaperError("latency", f"{units.show(Kind.TIME, self.latency_ns)} at "
                                         f"{units.show(Kind.RATE, self.rate)} holds "
                                         f"{self.limit} bytes, less than one full frame "
                                         f"({MTU_FRAME} B): give a longer latency")

    @property
    def limit(self) -> int:
        """Bytes the queues may hold (0: no limit): the latency and the burst at the rate,
        as tc tbf computes its ``limit`` from ``latency``."""
        if not (self.rate and self.latency_ns):
            return 0
        return (self.latency_ns + self.burst_ns) * self.rate // NS_BITS

    def describe(self) -> str:
        """As a user writes it: ``rate 100Mbit burst 1ms overhead 24 latency 50ms``."""
        if not self.rate:
            return "rate off"
        words = [f"rate {units.show(Kind.RATE, self.rate)}",
                 f"burst {units.show(Kind.TIME, self.burst_ns)}"]
        if self.overhead:
            words.append(f"overhead {self.overhead}")
        if self.latency_ns:
            words.append(f"latency {units.show(Kind.TIME, self.latency_ns)}")
        return " ".join(words)


def default_bql(shaper: Shaper) -> Bql:
    """BQL where nobody said: adaptive, but off under a link rate. The rate keeps the
    device queue short by itself (below the device's speed, what it releases drains
    at once); with BQL too, the scheduler also waits for completions, and on the
    veth bed that loop (the transmitter thread, the peer's NAPI poll) stalled for
    milliseconds on a busy machine, long enough for the rate to lose its unused time:
    1-3 % of 1 Gbit/s on a loaded machine (once 18 %), 0.1-0.2 % without
    (docs/deploy.md)."""
    return Bql(BqlMode.OFF) if shaper.rate else Bql()


def burst_time(burst: Quantity, rate: int) -> int:
    """A burst given as a time (ns), or as a size, which lasts that long at ``rate``."""
    if burst.kind is Kind.TIME:
        return burst.value
    if burst.kind is Kind.BYTES:
        if not rate:
            raise ShaperError("burst", "a burst in bytes needs a rate to count it at")
        return -(-burst.value * NS_BITS // rate)
    raise ShaperError("burst", "expected a time (e.g. 1ms) or a size (e.g. 12kb)")
