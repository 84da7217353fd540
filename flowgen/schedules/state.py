"""A schedule's state (:class:`ScheduleState`): its next tick, counts, buffered ticks, pause.

The state changes at every tick; the spec only when someone changes the schedule. Both are
stored together with a **revision**, and every write is a compare-and-set on it
(:meth:`flowgen.schedules.store.ScheduleStore.put`), so a tick fired by one worker and an
``update`` or ``pause`` made elsewhere at the same moment never overwrite each other: the
loser reads again and redoes its work.
"""

from __future__ import annotations

import attrs

from .records import record_from_json, record_json


@attrs.define
class ScheduleState:
    """What a schedule has done and will do next.

    Attributes:
        next_tick: the next tick not yet handled (Unix time), ``None`` when none is left.
        paused / note: paused by ``pause(note=...)``; a paused schedule has no timer.
        started: runs started by ticks (and by ``trigger``).
        skipped: ticks not run because an earlier run was still in progress (overlap policy).
        missed: ticks later than ``max_lateness`` that the catch-up policy did not run.
        buffer: ticks waiting for the run in progress to finish (``buffer_one``/``buffer_all``/
            ``cancel_other``), oldest first.
        last_tick: the latest tick handled.
        open_runs: runs it started (ticks and ``trigger``) that it has not yet seen finish:
            what the overlap policy checks.
        undeclared: declared in code once, and missing from the code of a worker that
            registered the declared schedules since (reported; it keeps running until deleted).
    """

    next_tick: float | None
    created: float
    updated: float
    paused: bool = False
    note: str = ""
    started: int = 0
    skipped: int = 0
    missed: int = 0
    buffer: list[float] = attrs.field(factory=list)
    last_tick: float | None = None
    open_runs: list[str] = attrs.field(factory=list)
    undeclared: bool = False

    def to_json(self) -> str:
        return record_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> ScheduleState:
        return record_from_json(cls, text)
