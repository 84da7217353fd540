"""The runner's clock: virtual time that moves only when the test says so, and agrees with freezegun."""

from __future__ import annotations

import calendar
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from ..durations import parse_timestamp


def _freezegun_factory() -> Any:
    """Return freezegun's active time factory, or ``None`` when no ``freeze_time`` is active.

    freezegun keeps its active factories in ``freezegun.api.freeze_factories`` (innermost last).
    It is looked up in ``sys.modules`` so the runner neither needs freezegun installed nor
    imports it.
    """
    api = sys.modules.get("freezegun.api")
    factories = getattr(api, "freeze_factories", None)
    return factories[-1] if factories else None


def _timestamp_of(moment: datetime) -> float:
    """Convert a naive UTC datetime to a Unix timestamp, the way freezegun's ``time.time()`` does."""
    return calendar.timegm(moment.timetuple()) + moment.microsecond / 1_000_000


def utc_at_or_after(timestamp: float) -> datetime:
    """Return the first microsecond (a naive UTC datetime) whose timestamp is not before ``timestamp``.

    Datetimes have microsecond resolution and timestamps are floats: rounding to the nearest
    microsecond could land just before a timer's due time, and a clock moved there would not
    fire it.
    """
    moment = datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)
    while _timestamp_of(moment) < timestamp:
        moment += timedelta(microseconds=1)
    return moment


class RunnerClock:
    """The runner's clock: virtual time that moves only when the test advances it.

    When a ``freezegun.freeze_time`` is active, :meth:`now` reads freezegun's frozen time (so the
    engine, ``flowgen.now()`` and ``time.time()`` in the test agree), and :meth:`move_to` moves
    freezegun's time too. Otherwise it keeps its own time, which starts at ``start`` (default:
    the current time). Moving the clock under freezegun moves its own time by as much, so time
    spent inside a ``freeze_time`` block is not lost when the block ends.

    Args:
        start: the Unix time (or an aware datetime) the virtual time starts at.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        self._now = time.time() if start is None else parse_timestamp(start)

    @property
    def frozen(self) -> bool:
        """Whether freezegun's frozen time is the time source right now."""
        return _freezegun_factory() is not None

    def now(self) -> float:
        """Return the current virtual time as a Unix timestamp."""
        factory = _freezegun_factory()
        if factory is not None:
            return _timestamp_of(factory())
        return self._now

    def move_to(self, timestamp: float) -> None:
        """Move the time forward to ``timestamp`` (never backwards; a past time is a no-op).

        Under freezegun the frozen time is moved with ``move_to``, rounded up to the next
        microsecond (freezegun's resolution) so that a timer due at ``timestamp`` is due when
        the clock is read back.
        """
        factory = _freezegun_factory()
        if factory is None:
            self._now = max(self._now, timestamp)
            return
        current = _timestamp_of(factory())
        if timestamp <= current:
            return
        self._now += timestamp - current
        factory.move_to(utc_at_or_after(timestamp))

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"time cannot go backwards (advance by {seconds!r}s)")
        self.move_to(self.now() + seconds)
