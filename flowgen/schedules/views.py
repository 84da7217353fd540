"""What ``engine.schedules.get(name)`` and ``list()`` return: :class:`ScheduleInfo` snapshots."""

from __future__ import annotations

from datetime import datetime

import attrs

from ..status import RunStatus


@attrs.frozen
class ScheduledRun:
    """One of a schedule's latest runs.

    Attributes:
        status: the run's status, or ``None`` when the run is gone (its retention ended).
        error: ``"<type>: <message>"`` of a failed run.
        manual: started by ``trigger()``, not by a tick.
    """

    run_id: str
    tick: datetime
    status: RunStatus | None
    error: str | None = None
    manual: bool = False


@attrs.frozen
class ScheduleInfo:
    """A snapshot of a schedule: its settings, next ticks, latest runs and counts.

    Attributes:
        when: the timing in words (``cron '0 2 * * *' in Europe/Paris``, ``every 900s``).
        next_ticks: the next tick times (in the schedule's time zone); empty while paused.
        buffered: ticks waiting for a run in progress to finish.
        runs: the latest runs, latest tick first, with their outcomes.
        started / skipped / missed: runs started by ticks; ticks skipped by the overlap
            policy; late ticks the catch-up policy did not run. (:attr:`failed` counts the
            failures among ``runs``: a failing schedule keeps ticking.)
        undeclared: declared in code once, missing from the code of a worker since.
    """

    name: str
    workflow: str
    when: str
    cron: str | None
    every: float | None
    timezone: str
    overlap: str
    catchup: str
    max_lateness: float
    tick_arg: str | None
    origin: str
    paused: bool
    note: str
    undeclared: bool
    next_ticks: tuple[datetime, ...]
    last_tick: datetime | None
    buffered: tuple[datetime, ...]
    runs: tuple[ScheduledRun, ...]
    started: int
    skipped: int
    missed: int
    created: datetime
    updated: datetime

    @property
    def failed(self) -> int:
        """How many of the latest runs (:attr:`runs`) failed."""
        return sum(1 for run in self.runs if run.status == RunStatus.FAILED)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dictionary (what ``flowgen schedules get`` prints)."""
        data = attrs.asdict(self, value_serializer=lambda _inst, _field, value: _plain(value))
        data["failed"] = self.failed
        return data


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, RunStatus):
        return str(value.value)
    return value
