"""Numbers with units, and what kind of quantity each one is.

Canonical units are integers: time in nanoseconds, sizes in bytes, rates in
bits per second, counts as they are. Decimal multipliers (K, M, G) are
powers of 1000, binary ones (Ki, Mi, Gi) powers of 1024. A value must be a
whole number in its canonical unit (``0.5ns`` is not) and fit in 64 bits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum


class Kind(Enum):
    TIME = "time"
    BYTES = "bytes"
    RATE = "rate"
    COUNT = "count"
    BOOL = "bool"


_SCALE = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
UNITS: dict[str, tuple[Kind, int]] = {
    "ns": (Kind.TIME, 1),
    "us": (Kind.TIME, 10**3),
    "ms": (Kind.TIME, 10**6),
    "s": (Kind.TIME, 10**9),
    **{f"{p}B": (Kind.BYTES, m) for p, m in _SCALE.items()},
    **{f"{p}bit": (Kind.RATE, m) for p, m in _SCALE.items() if "i" not in p},
    **{f"{p}bps": (Kind.RATE, m) for p, m in _SCALE.items() if "i" not in p},
    **{p: (Kind.COUNT, m) for p, m in _SCALE.items()},
}
_ALL_UNITS = ("units: ns us ms s, B KB MB GB KiB MiB GiB, bit Kbit Mbit Gbit (or bps), "
              "K M G Ki Mi Gi")
U64_MAX = (1 << 64) - 1
_NUMBER = re.compile(r"(?P<digits>[0-9][0-9_]*(?:\.[0-9]+)?)(?P<unit>[A-Za-z]*)")


class UnitError(ValueError):
    """Why a number with a unit is not a value; the caller adds the position."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Quantity:
    value: int  # in the canonical unit of its kind
    kind: Kind


def quantity(text: str) -> Quantity:
    """``"5ms"`` → 5_000_000 ns; ``"64Ki"`` → 65536; ``"10Mbit"`` → 10_000_000 bit/s."""
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise UnitError(f"'{text}' is not a number")
    unit = m["unit"]
    if unit not in UNITS:
        close = sorted(u for u in UNITS if u.lower() == unit.lower())
        hint = f"did you mean {close[0]}?" if close else _ALL_UNITS
        raise UnitError(f"unknown unit '{unit}' in '{text}'", hint)
    kind, scale = UNITS[unit]
    try:
        exact = Decimal(m["digits"].replace("_", "")) * scale
    except InvalidOperation:
        raise UnitError(f"'{text}' is not a number") from None
    if exact != exact.to_integral_value():
        canonical = {Kind.TIME: "nanoseconds", Kind.BYTES: "bytes", Kind.RATE: "bits per second",
                     Kind.COUNT: "units"}[kind]
        raise UnitError(f"'{text}' is not a whole number of {canonical}")
    value = int(exact)
    if value > U64_MAX:
        raise UnitError(f"'{text}' does not fit in 64 bits (at most {U64_MAX})")
    return Quantity(value, kind)
