"""The egress model both executions share: the BQL setting and its constants.

The datapath (kern/datapath.h) moves packets into the device while the bytes
in flight stay under a limit; the simulator's link (``xdpq.sim.run``) does
the same over a device that serializes one frame at a time at the link rate.
A completion retires its bytes, may adapt the limit, and lets the scheduler
run again. The adaptive rule is Linux's dynamic queue limits': grow by what
completed when the device ran dry while the scheduler was stopped on the
limit; over a hold period in which the limit never stopped the scheduler,
shrink to the peak in flight; stay within ``BQL_MIN``..``BQL_MAX``
(docs/datapath.md states it; ``tests/test_twins.py`` holds the constants
and the rule to the kernel's).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from xdpq import units
from xdpq.errors import XdpqError

BQL_MIN, BQL_MAX, BQL_HOLD_NS = 1514, 4 * 1024 * 1024, 1_000_000
NS_BITS = 8 * 1_000_000_000  # a byte's bits, times nanoseconds per second


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

    @classmethod
    def hold(cls) -> Bql:
        """A fixed limit of zero: the scheduler queues but sends nothing."""
        return cls(BqlMode.FIXED, 0)
