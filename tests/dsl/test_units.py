"""Numbers with units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xdpq.units import U64_MAX, Kind, Quantity, UnitError, quantity


@pytest.mark.parametrize(("text", "value", "kind"), [
    ("0", 0, Kind.COUNT),
    ("10_000", 10_000, Kind.COUNT),
    ("64Ki", 65_536, Kind.COUNT),
    ("1M", 1_000_000, Kind.COUNT),
    ("5ms", 5_000_000, Kind.TIME),
    ("100us", 100_000, Kind.TIME),
    ("1.5ms", 1_500_000, Kind.TIME),
    ("2s", 2_000_000_000, Kind.TIME),
    ("1500B", 1500, Kind.BYTES),
    ("64KiB", 65_536, Kind.BYTES),
    ("1KB", 1000, Kind.BYTES),
    ("10Mbit", 10_000_000, Kind.RATE),
    ("1Gbit", 1_000_000_000, Kind.RATE),
    ("2.5Gbps", 2_500_000_000, Kind.RATE),
])
def test_units(text: str, value: int, kind: Kind) -> None:
    assert quantity(text) == Quantity(value, kind)


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("0.5ns", "'0.5ns' is not a whole number of nanoseconds", ""),
    ("5MS", "unknown unit 'MS' in '5MS'", "did you mean ms?"),
    ("3parsecs", "unknown unit 'parsecs' in '3parsecs'", "units: ns us ms s"),
    ("18446744073709551616", "'18446744073709551616' does not fit in 64 bits", ""),
    ("20000000000Gbit", "'20000000000Gbit' does not fit in 64 bits", ""),
])
def test_unit_errors(text: str, message: str, hint: str) -> None:
    with pytest.raises(UnitError) as err:
        quantity(text)
    assert str(err.value).startswith(message)
    assert err.value.hint.startswith(hint)


def test_largest_value() -> None:
    assert quantity(str(U64_MAX)).value == U64_MAX


@given(st.from_regex(r"[0-9][0-9_]{0,400}(\.[0-9]{1,30})?[A-Za-z]{0,6}", fullmatch=True))
def test_any_number_text_is_a_value_or_a_unit_error(text: str) -> None:
    try:
        q = quantity(text)
    except UnitError:
        return
    assert 0 <= q.value <= U64_MAX
