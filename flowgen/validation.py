"""Checks of the numbers users pass: engine and worker settings, timeouts, pages of listings.

One place, so the engine, the worker and the CLI refuse the same values with the same words.
Each check names the setting and the accepted range, and returns the value (as a float or an
int) so callers can write ``self.grace = check_seconds(grace, "grace", allow_zero=True)``.

Why each bound matters: a ``nan`` compares false with everything, so a lease that lasts ``nan``
seconds is never expired and never live (two workers can hold one run); ``inf`` never expires
(a killed worker's runs never recover); zero or negative intervals make the background
threads spin; and waits longer than :data:`~flowgen.durations.MAX_DURATION` overflow the
platform's timeouts.
"""

from __future__ import annotations

import math
from typing import Any

from .durations import MAX_DURATION, MAX_DURATION_TEXT
from .errors import ConfigurationError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_seconds(
    value: Any,
    name: str,
    *,
    allow_zero: bool = False,
    error: type[Exception] = ConfigurationError,
) -> float:
    """Return ``value`` as seconds: a finite number above 0 (or at least 0), at most :data:`MAX_DURATION`.

    Raises:
        ``error`` (:class:`ConfigurationError` by default) naming ``name``, the value and the range.
    """
    floor = "0 or more" if allow_zero else "above 0"
    if not _is_number(value) or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise error(f"{name} must be a finite number of seconds {floor}, got {value!r}")
    if value > MAX_DURATION:
        raise error(f"{name} must be at most {MAX_DURATION:.0f} seconds ({MAX_DURATION_TEXT}), got {value!r}")
    return float(value)


def check_count(
    value: Any, name: str, *, minimum: int = 1, error: type[Exception] = ConfigurationError
) -> int:
    """Return ``value`` if it is an int of at least ``minimum``; else raise ``error`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise error(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def check_timeout(value: Any, name: str = "timeout") -> float | None:
    """Return a wait's ``timeout``: ``None`` (wait forever) or seconds from 0 to :data:`MAX_DURATION`.

    Raises:
        ValueError: naming the value and the range (``nan`` and ``inf`` included).
    """
    if value is None:
        return None
    return check_seconds(value, name, allow_zero=True, error=ValueError)


def check_page(limit: Any, offset: Any) -> tuple[int | None, int]:
    """Check a listing's page: ``limit`` is ``None`` (no limit) or an int >= 1, ``offset`` an int >= 0.

    Zero and negative limits are refused rather than read as "all" or "none": stores disagree
    on what they would mean, and neither is what someone who wrote them expects.

    Raises:
        ValueError: naming the bad value.
    """
    if limit is not None:
        check_count(limit, "limit (None for no limit)", minimum=1, error=ValueError)
    check_count(offset, "offset", minimum=0, error=ValueError)
    return limit, offset
