"""Durations and points in time accepted everywhere flowgen takes one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import flowgen
from flowgen.durations import parse_duration, parse_timestamp


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("30 seconds", 30),
        ("10 minutes", 600),
        ("24 hours", 86400),
        ("1 day", 86400),
        ("2 weeks", 1209600),
        ("1h30m", 5400),
        ("1 hour, 30 minutes", 5400),
        ("250ms", 0.25),
        ("1.5h", 5400),
        ("45", 45),
        (" 3 DAYS ", 259200),
    ],
)
def test_parse_duration_reads_text(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_parse_duration_reads_timedeltas_and_numbers() -> None:
    assert parse_duration(timedelta(days=365)) == 365 * 86400
    assert parse_duration(2.5) == 2.5
    assert parse_duration(0) == 0


@pytest.mark.parametrize(
    "bad", ["soon", "10 parsecs", "", "-5s", -1, float("nan"), float("inf"), True, None, [1]]
)
def test_parse_duration_rejects_bad_values_with_a_value_error_naming_them(bad: object) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(bad)
    assert isinstance(caught.value, flowgen.InvalidDurationError)
    assert repr(bad)[:10] in str(caught.value) or str(bad) in str(caught.value)


def test_parse_timestamp_needs_an_aware_datetime() -> None:
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert parse_timestamp(when) == when.timestamp()
    assert parse_timestamp(1_900_000_000) == 1_900_000_000.0
    with pytest.raises(flowgen.InvalidDurationError, match="timezone-aware"):
        parse_timestamp(datetime(2030, 1, 1))
    with pytest.raises(flowgen.InvalidDurationError):
        parse_timestamp("tomorrow")


def test_sleep_commands_validate_their_arguments() -> None:
    assert flowgen.sleep(timedelta(days=365)).seconds == 365 * 86400
    with pytest.raises(ValueError):
        flowgen.sleep("forever")
    with pytest.raises(ValueError):
        flowgen.wait_for_event("x", timeout="-1s")


@pytest.mark.parametrize("value", [10**29, 4e9, "80000 days", timedelta(days=365 * 300)])
def test_durations_past_the_maximum_are_refused_naming_the_value_and_the_maximum(value: object) -> None:
    with pytest.raises(
        flowgen.InvalidDurationError, match=r"longest duration flowgen accepts is \d+ seconds \(100 years\)"
    ) as caught:
        parse_duration(value)
    assert repr(value) in str(caught.value)


def test_every_command_and_option_taking_a_duration_refuses_one_too_long() -> None:
    with pytest.raises(ValueError, match="100 years"):
        flowgen.sleep(10**29)
    with pytest.raises(ValueError, match="100 years"):
        flowgen.wait_for_event("x", timeout=10**29)
    with pytest.raises(ValueError, match="100 years"):
        flowgen.step(timeout=10**29)(len)
    with pytest.raises(ValueError, match="100 years"):
        flowgen.Retry(max_delay=10**29)


def test_the_longest_duration_is_accepted() -> None:
    assert flowgen.sleep("36500 days").seconds == 36500 * 86400


def test_a_point_in_time_past_year_9999_is_refused() -> None:
    with pytest.raises(flowgen.InvalidDurationError, match="year 9999"):
        flowgen.sleep_until(1e29)
    assert flowgen.sleep_until(-5.0).timestamp == -5.0
