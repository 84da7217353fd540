"""Schedules: cron and interval workflows, exactly one run per tick across any number of workers.

The pieces: :mod:`.spec` (settings and their checks), :mod:`.state` (what a schedule did),
:mod:`.timing` (cron in a time zone, intervals, daylight saving), :mod:`.ticks` (due ticks and
catch-up), :mod:`.firing` (claim, start one run per tick, overlap policies), :mod:`.store`
(the contract, memory; :mod:`.sqlite`, :mod:`.redis`), :mod:`.manager` (``engine.schedules``),
:mod:`.declared` (``flowgen.schedule``), :mod:`.service` (the worker thread), :mod:`.views`.
See docs/schedules.md.
"""

from __future__ import annotations

from .context import schedule_info
from .declared import Declaration, Declarations, declarations, schedule
from .errors import ScheduleConflictError, ScheduleError, ScheduleExistsError, ScheduleNotFoundError
from .firing import TickOfRun, parse_run_id, run_id_for
from .manager import RegisterReport, Schedules
from .spec import CATCHUPS, OVERLAPS, ScheduleSpec
from .views import ScheduledRun, ScheduleInfo

__all__ = [
    "CATCHUPS",
    "OVERLAPS",
    "Declaration",
    "Declarations",
    "RegisterReport",
    "ScheduleConflictError",
    "ScheduleError",
    "ScheduleExistsError",
    "ScheduleInfo",
    "ScheduleNotFoundError",
    "ScheduleSpec",
    "ScheduledRun",
    "Schedules",
    "TickOfRun",
    "declarations",
    "parse_run_id",
    "run_id_for",
    "schedule",
    "schedule_info",
]
