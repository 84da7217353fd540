"""Which ticks are due and which of them run: catch-up after downtime, pure functions of time.

A fire handles every tick from the schedule's ``next_tick`` up to now. A tick handled more than
``max_lateness`` after its time is **late** (a worker-less gap, a long claim); the catch-up
policy decides which late ticks still run:

* ``skip``: none; they are counted as missed;
* ``latest``: the most recent late tick, unless an on-time tick of the same fire covers it;
* ``all``: every one, oldest first (at most :data:`MAX_TICKS` per fire; older ones are missed).

A cron schedule with more than :data:`MAX_SCAN` due ticks counts only those; the ticks before
``now - max_lateness`` beyond that are missed without being counted (a warning says so).

Ticks handled within ``max_lateness`` always run (subject to the overlap policy).
"""

from __future__ import annotations

import logging
import math
from collections import deque

import attrs

from .spec import ScheduleSpec
from .timing import next_tick, tick_text

MAX_TICKS = 1000
"""The most ticks one fire handles; older due ticks are counted as missed."""

MAX_SCAN = 100_000
"""The most due ticks of a cron schedule one fire counts (intervals are counted arithmetically)."""

logger = logging.getLogger("flowgen.schedules")


@attrs.frozen
class DueTicks:
    """The outcome of looking at the ticks due at ``now``.

    Attributes:
        run: the ticks to run, oldest first.
        missed: how many due ticks will not run (late, beyond the catch-up policy).
        following: the first tick after ``now`` (the schedule's next ``next_tick``).
    """

    run: list[float]
    missed: int
    following: float | None


def due_ticks(spec: ScheduleSpec, first: float | None, now: float) -> DueTicks:
    """Split the ticks from ``first`` up to ``now`` into the ones to run and the missed ones."""
    tz = spec.tz
    overflow = 0
    tick = first
    if tick is not None and spec.every is not None and tick <= now:
        total = math.floor((now - tick) / spec.every) + 1
        overflow = max(0, total - MAX_TICKS)
        tick += overflow * spec.every
    kept: deque[float] = deque(maxlen=MAX_TICKS)
    scanned = 0
    while tick is not None and tick <= now:
        if len(kept) == MAX_TICKS:
            overflow += 1
        kept.append(tick)
        scanned += 1
        if scanned == MAX_SCAN and tick < now - spec.max_lateness:
            # A cron schedule idle for this many ticks (a minutely one down for ten weeks):
            # counting every missed tick would cost seconds of CPU per fire. Jump to the
            # ticks that can still be on time; the ones jumped over are not counted.
            logger.warning(
                "schedule %r: more than %d ticks were due; the ticks before %s are missed and not counted",
                spec.name,
                MAX_SCAN,
                tick_text(now - spec.max_lateness, tz),
            )
            overflow += len(kept)
            kept.clear()
            tick = now - spec.max_lateness
        tick = next_tick(tick, cron=spec.cron, every=spec.every, tz=tz)
    ticks = list(kept)
    on_time = [t for t in ticks if now - t <= spec.max_lateness]
    late = [t for t in ticks if now - t > spec.max_lateness]
    if spec.catchup == "all":
        run = late + on_time
    elif spec.catchup == "latest" and late and not on_time:
        run = [late[-1]]
    else:
        run = on_time
    return DueTicks(run, overflow + len(ticks) - len(run), tick)
