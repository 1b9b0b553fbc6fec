"""Numbers with units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xdpq import units
from xdpq.units import U64_MAX, UNITS, Kind, Quantity, UnitError, quantity


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
    ("10Mbit", 10_000_000, Kind.RATE),
    ("1Gbit", 1_000_000_000, Kind.RATE),
    # tc's spellings, with tc's meanings: sizes in powers of 1024, bps in bytes per second
    ("10k", 10_240, Kind.BYTES),
    ("10kb", 10_240, Kind.BYTES),
    ("2m", 2 * 2**20, Kind.BYTES),
    ("1gb", 2**30, Kind.BYTES),
    ("1500b", 1500, Kind.BYTES),
    ("10kbit", 10_000, Kind.RATE),
    ("10mbit", 10_000_000, Kind.RATE),
    ("2gbit", 2_000_000_000, Kind.RATE),
    ("1mibit", 2**20, Kind.RATE),
    ("100bps", 800, Kind.RATE),
    ("10kbps", 80_000, Kind.RATE),
    ("10mbps", 80_000_000, Kind.RATE),
    ("1gbps", 8_000_000_000, Kind.RATE),
    ("10MBps", 80_000_000, Kind.RATE),
    ("1KiBps", 8192, Kind.RATE),
    ("100usec", 100_000, Kind.TIME),
    ("5msecs", 5_000_000, Kind.TIME),
    ("1sec", 10**9, Kind.TIME),
])
def test_units(text: str, value: int, kind: Kind) -> None:
    assert quantity(text) == Quantity(value, kind)


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("0.5ns", "'0.5ns' is not a whole number of nanoseconds", ""),
    ("5MS", "unknown unit 'MS' in '5MS'", "did you mean ms?"),
    ("10Kb", "unknown unit 'Kb' in '10Kb'", "did you mean Kbit or kb or kbit?"),
    ("3parsecs", "unknown unit 'parsecs' in '3parsecs'", "units: ns us ms s"),
    ("18446744073709551616", "'18446744073709551616' does not fit in 64 bits", ""),
    ("20000000000Gbit", "'20000000000Gbit' does not fit in 64 bits", ""),
])
def test_unit_errors(text: str, message: str, hint: str) -> None:
    with pytest.raises(UnitError) as err:
        quantity(text)
    assert str(err.value).startswith(message)
    assert err.value.hint.startswith(hint)


@pytest.mark.parametrize(("text", "want", "readings", "hint"), [
    ("15KB", None, ["15000B (K = 1000)", "as tc reads it 15360B (K = 1024)"],
     "write 15000B or 15KiB"),
    ("2MB", None, ["2000000B", "2097152B"], "write 2000000B or 2MiB"),
    ("10Mbps", None, ["10Mbit (megabits per second)", "as tc reads it 80Mbit (megabytes"],
     "write 10Mbit or 10MBps"),
    ("1Gbps", None, ["1Gbit", "8Gbit"], "write 1Gbit or 1GBps"),
    ("10K", Kind.BYTES, ["as a size: 10000B", "10240B"], "write 10000B or 10KiB"),
])
def test_ambiguous_spellings_are_refused_with_both_readings(
        text: str, want: Kind | None, readings: list[str], hint: str) -> None:
    with pytest.raises(UnitError) as err:
        quantity(text, want)
    assert f"'{text}' is ambiguous" in str(err.value)
    for r in readings:
        assert r in str(err.value), str(err.value)
    assert err.value.hint == hint


def test_a_count_stays_a_count_where_no_size_is_wanted() -> None:
    assert quantity("10K") == Quantity(10_000, Kind.COUNT)
    assert quantity("64Ki", Kind.BYTES) == Quantity(65_536, Kind.COUNT)


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("30000", Kind.BYTES, 30000), ("30kb", Kind.BYTES, 30720), ("64KiB", Kind.BYTES, 65536),
    ("10mbit", Kind.RATE, 10_000_000), ("1mbps", Kind.RATE, 8_000_000),
    ("5ms", Kind.TIME, 5_000_000),
])
def test_option_values(text: str, kind: Kind, value: int) -> None:
    assert units.value(text, kind) == value


def test_option_values_of_the_wrong_kind() -> None:
    with pytest.raises(UnitError, match="expected a rate, got '5ms', which is a time"):
        units.value("5ms", Kind.RATE)
    with pytest.raises(UnitError, match="expected a rate, got '10', which is a plain number"):
        units.value("10", Kind.RATE)


@given(st.sampled_from(sorted(UNITS)), st.integers(0, 10**6))
def test_every_spelling_shown_reads_back(unit: str, n: int) -> None:
    q = quantity(f"{n}{unit}")
    if q.kind is not Kind.COUNT:
        assert quantity(units.show(q.kind, q.value)) == q


def test_largest_value() -> None:
    assert quantity(str(U64_MAX)).value == U64_MAX


@given(st.from_regex(r"[0-9][0-9_]{0,400}(\.[0-9]{1,30})?[A-Za-z]{0,6}", fullmatch=True))
def test_any_number_text_is_a_value_or_a_unit_error(text: str) -> None:
    try:
        q = quantity(text)
    except UnitError:
        return
    assert 0 <= q.value <= U64_MAX
