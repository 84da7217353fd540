"""When a schedule ticks: cron expressions in a time zone, or fixed intervals.

Cron expressions are evaluated by `cronsim <https://pypi.org/project/cronsim/>`_ (see
docs/schedules.md for why it and not croniter), in the schedule's ``zoneinfo`` time zone.
Its daylight-saving rules are Debian cron's, and they are flowgen's:

* a local time that does not exist (02:30 on the night clocks jump from 02:00 to 03:00) ticks
  once, at the first instant after the jump (03:00 local);
* a local time that happens twice (01:30 on the night 01:00-02:00 repeats) ticks once, at its
  first occurrence, when the expression names the hour; an expression whose hour field is
  ``*`` (``30 * * * *``) ticks at both occurrences, since it means "every hour".

Intervals (``every="15 minutes"``) are instants ``k * every`` seconds after the Unix epoch:
aligned, the same on every worker and for every declaration, and untouched by daylight saving
(an ``every="1 day"`` schedule ticks at 00:00 UTC; use cron for local times).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from .errors import ScheduleError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

# zoneinfo and cronsim are imported in the functions that use them: every worker imports the
# schedules package (its schedule service) but evaluates a zone or a cron only when a schedule is
# created or a tick is due (process start-up, issue 22).

MIN_EVERY = 1.0
"""The shortest interval a schedule accepts, in seconds."""


def zone(name: object) -> ZoneInfo:
    """Return the ``zoneinfo`` time zone ``name``.

    Raises:
        ScheduleError: ``name`` is not a time zone of the IANA database.
    """
    if not isinstance(name, str) or not name:
        raise ScheduleError(f"timezone must be an IANA time zone name such as 'Europe/Paris', got {name!r}")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ScheduleError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris', 'America/New_York' or "
            f"'UTC' ({type(error).__name__})"
        ) from None


def check_cron(expression: object, tz: tzinfo) -> str:
    """Return ``expression`` if cronsim accepts it (5 fields, or 6 with seconds).

    Raises:
        ScheduleError: naming the expression and what is wrong with it.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleError(f"cron must be a cron expression such as '0 2 * * *', got {expression!r}")
    from cronsim import CronSim, CronSimError

    try:
        iterator = CronSim(expression, datetime(2026, 1, 1, tzinfo=tz))
        next(iterator)
    except CronSimError as error:
        raise ScheduleError(
            f"invalid cron expression {expression!r}: {error}; use 5 fields, minute hour day month weekday "
            "(such as '0 2 * * *' for 02:00 every day)"
        ) from None
    except StopIteration:
        raise ScheduleError(f"the cron expression {expression!r} never matches a date") from None
    return expression


def ticks_after(instant: float, *, cron: str | None, every: float | None, tz: tzinfo) -> Iterator[float]:
    """Yield the schedule's tick instants (Unix timestamps) strictly after ``instant``, in order."""
    if every is not None:
        k = math.floor(instant / every) + 1
        while True:
            yield k * every
            k += 1
    assert cron is not None
    from cronsim import CronSim

    start = datetime.fromtimestamp(instant, tz)
    for moment in CronSim(cron, start):
        tick = moment.timestamp()
        if tick > instant:
            yield tick


def next_tick(instant: float, *, cron: str | None, every: float | None, tz: tzinfo) -> float | None:
    """The first tick strictly after ``instant`` (``None`` when the expression never matches again)."""
    return next(ticks_after(instant, cron=cron, every=every, tz=tz), None)


def tick_text(tick: float, tz: tzinfo) -> str:
    """A tick as an ISO 8601 local time with its UTC offset: ``2026-12-02T02:00:00+01:00``."""
    return datetime.fromtimestamp(tick, tz).isoformat()
