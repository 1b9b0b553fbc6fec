"""Numbers with units, and what kind of quantity each one is: the one reader of
quantities for the language, parameters, ``--bql``, ``--rate`` and scenarios.

Canonical units are integers: time in nanoseconds, sizes in bytes, rates in
bits per second, counts as they are. A value must be a whole number in its
canonical unit (``0.5ns`` is not) and fit in 64 bits.

Spellings (docs/language.md has the table): ``tc``'s own, with ``tc``'s
meanings, and xdpq's, where the two do not conflict. ``tc`` reads units
without regard to case; xdpq takes ``tc``'s spellings in lower case:

* sizes ``b k kb m mb g gb`` are bytes in powers of 1024 (``10k`` is 10240 B);
  ``B KiB MiB GiB TiB`` are bytes too;
* rates ``kbit mbit gbit tbit`` (also ``Kbit``…) are bits per second in
  powers of 1000, ``kibit``… in powers of 1024; ``bps kbps mbps gbps tbps`` are
  *bytes* per second (``tc``'s ``mbps`` is megabytes per second), as are
  ``Bps KBps MBps GBps TBps`` and ``KiBps``…;
* times ``ns us ms s`` and ``tc``'s ``nsec usec msec sec`` (and ``…secs``);
* counts take no unit, or ``K M G`` (powers of 1000) and ``Ki Mi Gi`` (1024).

Spellings that mean one thing to ``tc`` and another to everyone else are
refused with both readings: ``KB MB GB`` (1000 B, or ``tc``'s 1024 B),
``Kbps Mbps Gbps Tbps`` (bits per second, or ``tc``'s bytes per second), and
``K M G`` where a size is wanted (a count, or ``tc``'s ``k`` of 1024 B).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import Enum


class Kind(Enum):
    TIME = "time"
    BYTES = "bytes"
    RATE = "rate"
    COUNT = "count"
    BOOL = "bool"


_SI = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_IEC = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_TIME = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9}
_TC_SIZE = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30}

UNITS: dict[str, tuple[Kind, int]] = {
    # times; tc's spellings too
    **{u: (Kind.TIME, m) for u, m in _TIME.items()},
    **{f"{u[:-1]}sec{s}": (Kind.TIME, m) for u, m in _TIME.items() for s in ("", "s")},
    # sizes
    "B": (Kind.BYTES, 1),
    **{f"{p}B": (Kind.BYTES, m) for p, m in _IEC.items()},
    **{p: (Kind.BYTES, m) for p, m in _TC_SIZE.items()},  # tc: 10k, 2m
    **{f"{p}b": (Kind.BYTES, m) for p, m in _TC_SIZE.items() if p != "b"},  # tc: 10kb
    # rates in bits per second
    "bit": (Kind.RATE, 1),
    **{f"{p}bit": (Kind.RATE, m) for p, m in (_SI | _IEC).items()},
    **{f"{p.lower()}bit": (Kind.RATE, m) for p, m in (_SI | _IEC).items()},
    # rates in bytes per second; tc's lower-case spellings (bps, mbps) mean these too
    "Bps": (Kind.RATE, 8), "bps": (Kind.RATE, 8),
    **{f"{p}Bps": (Kind.RATE, 8 * m) for p, m in (_SI | _IEC).items()},
    **{f"{p.lower()}bps": (Kind.RATE, 8 * m) for p, m in (_SI | _IEC).items()},
    # counts
    "": (Kind.COUNT, 1),
    **{p: (Kind.COUNT, m) for p, m in (_SI | _IEC).items() if p != "T" and p != "Ti"},
}


@dataclass(frozen=True, slots=True)
class _Ambiguous:
    """A spelling with two readings: the usual one, and tc's (which ignores case)."""

    kind: Kind
    usual: int
    usual_words: str
    usual_unit: str  # an unambiguous spelling of the usual reading ("": in bytes)
    tc: int
    tc_words: str
    tc_unit: str  # an unambiguous spelling of tc's reading


_WORD = {"K": "kilo", "M": "mega", "G": "giga", "T": "tera"}
_AMBIGUOUS: dict[str, _Ambiguous] = {
    **{f"{p}B": _Ambiguous(Kind.BYTES, _SI[p], f"{p} = 1000", "", _IEC[f"{p}i"],
                           f"{p} = 1024", f"{p}iB") for p in "KMG"},
    **{f"{p}bps": _Ambiguous(Kind.RATE, _SI[p], f"{_WORD[p]}bits per second", f"{p}bit",
                             8 * _SI[p], f"{_WORD[p]}bytes per second", f"{p}Bps")
       for p in "KMGT"},
}
# Counts where a size is wanted: tc's sizes ignore case (its 10K is 10k, 10240 B).
_COUNT_AS_SIZE = {p: replace(_AMBIGUOUS[f"{p}B"], usual_words=f"{p} = 1000 bytes")
                  for p in "KMG"}

_ALL_UNITS = ("units: ns us ms s; B KiB MiB GiB, or tc's k kb m mb g gb (1024); "
              "bit kbit mbit gbit (Kbit…); bytes per second Bps KBps MBps GBps, or tc's "
              "bps kbps mbps gbps; counts K M G Ki Mi Gi")
U64_MAX = (1 << 64) - 1
_NUMBER = re.compile(r"(?P<digits>[0-9][0-9_]*(?:\.[0-9]+)?)(?P<unit>[A-Za-z]*)")

WORDS = {Kind.TIME: "a time", Kind.BYTES: "a size", Kind.RATE: "a rate",
         Kind.COUNT: "a plain number", Kind.BOOL: "a truth value"}
EXAMPLE = {Kind.TIME: "5ms", Kind.BYTES: "1514B", Kind.RATE: "10Mbit", Kind.COUNT: "4",
           Kind.BOOL: "1"}


class UnitError(ValueError):
    """Why a number with a unit is not a value; the caller adds the position."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Quantity:
    value: int  # in the canonical unit of its kind
    kind: Kind


def _exact(digits: str, scale: int) -> Decimal:
    try:
        return Decimal(digits.replace("_", "")) * scale
    except InvalidOperation:
        raise UnitError(f"'{digits}' is not a number") from None


def _refuse(text: str, digits: str, a: _Ambiguous, what: str) -> UnitError:
    def shown(v: Decimal) -> str:
        return show(a.kind, int(v)) if v == v.to_integral_value() else f"{v}{UNIT_OF[a.kind]}"

    number = digits.replace("_", "")
    usual, tc = shown(_exact(digits, a.usual)), shown(_exact(digits, a.tc))
    return UnitError(f"'{text}' is ambiguous{what}: {usual} ({a.usual_words}), or as tc reads "
                     f"it {tc} ({a.tc_words})",
                     f"write {f'{number}{a.usual_unit}' if a.usual_unit else usual} or "
                     f"{number}{a.tc_unit}")


def quantity(text: str, want: Kind | None = None) -> Quantity:
    """``"5ms"`` → 5_000_000 ns; ``"64Ki"`` → 65536; ``"10Mbit"`` → 10_000_000 bit/s;
    ``"10k"`` → 10240 B. ``want``, the kind the caller expects, only decides between
    readings (``10K`` where a size is wanted is refused, ``5MB`` where a time is wanted
    is a size either way); the caller checks the kind."""
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise UnitError(f"'{text}' is not a number")
    unit, digits = m["unit"], m["digits"]
    if unit in _AMBIGUOUS:
        a = _AMBIGUOUS[unit]
        if want in (None, a.kind):
            raise _refuse(text, digits, a, "")
        kind, scale = a.kind, a.usual  # either reading is of the wrong kind: say which
    elif want is Kind.BYTES and unit in _COUNT_AS_SIZE:
        raise _refuse(text, digits, _COUNT_AS_SIZE[unit], " as a size")
    elif unit in UNITS:
        kind, scale = UNITS[unit]
    else:
        close = sorted(u for u in UNITS if u.lower() in (unit.lower(), f"{unit.lower()}it"))
        hint = f"did you mean {' or '.join(close)}?" if close else _ALL_UNITS
        raise UnitError(f"unknown unit '{unit}' in '{text}'", hint)
    exact = _exact(digits, scale)
    if exact != exact.to_integral_value():
        canonical = {Kind.TIME: "nanoseconds", Kind.BYTES: "bytes", Kind.RATE: "bits per second",
                     Kind.COUNT: "units"}[kind]
        raise UnitError(f"'{text}' is not a whole number of {canonical}")
    value = int(exact)
    if value > U64_MAX:
        raise UnitError(f"'{text}' does not fit in 64 bits (at most {U64_MAX})")
    return Quantity(value, kind)


def value(text: str, kind: Kind) -> int:
    """``text`` as a quantity of ``kind`` in its canonical unit, for options such as
    ``--rate 10mbit`` and ``--bql fixed:30kb``: a size may also be a plain number of
    bytes (as in tc). Anything else is a :class:`UnitError` that says what to write."""
    q = quantity(text.strip(), want=kind)
    if q.kind is kind or (q.kind is Kind.COUNT and kind is Kind.BYTES):
        return q.value
    raise UnitError(f"expected {WORDS[kind]}, got '{text}', which is {WORDS[q.kind]}",
                    f"e.g. {EXAMPLE[kind]}")


UNIT_OF = {Kind.TIME: "ns", Kind.BYTES: "B", Kind.RATE: "bit", Kind.COUNT: "", Kind.BOOL: ""}
_LARGER = {Kind.TIME: ((10**9, "s"), (10**6, "ms"), (10**3, "us")),
           Kind.RATE: ((10**9, "Gbit"), (10**6, "Mbit"), (10**3, "Kbit"))}


def show(kind: Kind, value: int) -> str:
    """A value as a user writes it: the largest unit that shows it exactly (``5ms``,
    ``10Mbit``; sizes in bytes), which :func:`quantity` reads back."""
    for scale, unit in _LARGER.get(kind, ()):
        if value and value % scale == 0:
            return f"{value // scale}{unit}"
    return f"{value}{UNIT_OF[kind]}"
