"""The errors of schedules (part of the one tree under :class:`flowgen.FlowgenError`)."""

from __future__ import annotations

from ..errors import FlowgenError


class ScheduleError(FlowgenError, ValueError):
    """A schedule's declaration cannot be used (a bad cron expression, time zone, interval...).

    Fix: correct the setting the message names (it shows the value and an example of a good
    one); nothing was stored, so declare or create the schedule again.
    """


class ScheduleNotFoundError(FlowgenError, LookupError):
    """No schedule has that name.

    Fix: check the name with ``engine.schedules.list()`` or ``flowgen schedules list``; a
    schedule declared in code exists once a worker importing its module has started (or after
    ``flowgen schedules sync -m MODULE``).
    """


class ScheduleExistsError(FlowgenError):
    """A schedule with that name already exists (``create`` never overwrites one).

    Fix: change it with ``engine.schedules.update(name, ...)`` (``flowgen schedules update``),
    or delete it first, or pick another name.
    """


class ScheduleConflictError(FlowgenError):
    """The schedule kept changing under a read-modify-write; nothing was written.

    Fix: try again; if it keeps happening, something changes the schedule in a loop.
    """
