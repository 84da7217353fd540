"""Parse durations ("30s", "10 minutes", timedelta, seconds) and points in time.

Every duration flowgen accepts goes through :func:`parse_duration`, so the rules are the same
for sleeps, event timeouts, retry delays and step timeouts.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

from .errors import InvalidDurationError

MAX_DURATION = 100 * 365.25 * 86400.0
"""The longest duration flowgen accepts (100 years, in seconds).

Beyond about 292 years a wait no longer fits the platform's timeouts (64-bit nanoseconds), and
a timer that far out is never a real intent; refusing at 100 years gives a clear error instead
of an ``OverflowError`` deep in a thread.
"""

MAX_DURATION_TEXT = "100 years"

LATEST_TIMESTAMP = datetime(9999, 12, 31, tzinfo=timezone.utc).timestamp()
"""The latest point in time flowgen accepts: a later one cannot be shown as a ``datetime``."""

Duration = timedelta | int | float | str
"""What flowgen accepts as a duration: a timedelta, a number of seconds, or a string."""

_UNITS: dict[str, float] = {}
for _names, _seconds in (
    (("ms", "msec", "msecs", "millisecond", "milliseconds"), 0.001),
    (("s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), 86400.0),
    (("w", "week", "weeks"), 604800.0),
):
    for _name in _names:
        _UNITS[_name] = _seconds

_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]+)\s*,?")
_EXAMPLES = "'30s', '10 minutes', '1h30m', '2 days', a number of seconds or a timedelta"


def parse_duration(value: object, *, what: str = "duration") -> float:
    """Return ``value`` as a non-negative, finite number of seconds.

    Raises:
        InvalidDurationError: (a ``ValueError``) naming the bad value and the accepted forms.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise InvalidDurationError(f"invalid {what} {value!r}: a bool is not a duration; use {_EXAMPLES}")
    elif isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value, what)
    else:
        raise InvalidDurationError(
            f"invalid {what} {value!r} of type {type(value).__name__}; use {_EXAMPLES}"
        )
    if not math.isfinite(seconds):
        raise InvalidDurationError(f"invalid {what} {value!r}: it must be finite")
    if seconds < 0:
        raise InvalidDurationError(f"invalid {what} {value!r}: it must not be negative")
    if seconds > MAX_DURATION:
        raise InvalidDurationError(
            f"invalid {what} {value!r}: the longest duration flowgen accepts is {MAX_DURATION:.0f} "
            f"seconds ({MAX_DURATION_TEXT})"
        )
    return seconds


def _parse_text(text: str, what: str) -> float:
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        pass
    total = 0.0
    position = 0
    matched = False
    for match in _PART.finditer(stripped):
        if match.start() != position:
            break
        unit = match.group(2).lower()
        if unit not in _UNITS:
            raise InvalidDurationError(
                f"invalid {what} {text!r}: unknown unit {match.group(2)!r}; use {_EXAMPLES}"
            )
        total += float(match.group(1)) * _UNITS[unit]
        position = match.end()
        matched = True
    if not matched or position != len(stripped):
        raise InvalidDurationError(f"invalid {what} {text!r}; use {_EXAMPLES}")
    return total


def parse_timestamp(when: object) -> float:
    """Return ``when`` (a timezone-aware datetime or a Unix timestamp) as a Unix timestamp.

    Raises:
        InvalidDurationError: for a naive datetime (its time zone would be a guess) or any
            other type.
    """
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise InvalidDurationError(
                f"naive datetime {when!r}: flowgen needs a timezone-aware datetime, for example "
                "datetime(2030, 1, 1, tzinfo=timezone.utc) or datetime.now(timezone.utc)"
            )
        return when.timestamp()
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        value = float(when)
        if not math.isfinite(value):
            raise InvalidDurationError(f"invalid point in time {when!r}: it must be finite")
        if value > LATEST_TIMESTAMP:
            raise InvalidDurationError(
                f"invalid point in time {when!r}: the latest flowgen accepts is {LATEST_TIMESTAMP:.0f} "
                "(the end of year 9999)"
            )
        return value
    raise InvalidDurationError(
        f"invalid point in time {when!r} of type {type(when).__name__}: use a timezone-aware "
        "datetime or a Unix timestamp"
    )


def format_duration(seconds: float | None) -> str:
    """A duration for people (the CLI and the dashboard): ``0.31ms``, ``250ms``, ``2.5s``, ``12.3s``, ``3m 04s``, ``2h 05m``, ``3d 4h``; ``-`` for none."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    if seconds < 10:
        return f"{seconds:.3g}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"
