"""The errors of schedules (part of the one tree under :class:`flowgen.FlowgenError`)."""

from __future__ import annotations

from ..errors import FlowgenError


class ScheduleError(FlowgenError, ValueError):
    """A schedule's declaration cannot be used (a bad cron expression, time zone, interval...)."""


class ScheduleNotFoundError(FlowgenError, LookupError):
    """No schedule has that name."""


class ScheduleExistsError(FlowgenError):
    """A schedule with that name already exists (``create`` never overwrites one)."""


class ScheduleConflictError(FlowgenError):
    """The schedule kept changing under a read-modify-write; nothing was written."""
