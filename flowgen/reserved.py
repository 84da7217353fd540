"""Run ids reserved for flowgen itself: ``schedule:...`` belongs to the runs schedules start.

A run's schedule and tick are read from its id (``RunInfo.schedule``, ``flowgen.schedule_info()``),
so a run started by hand under such an id would pass for a scheduled one, and could take the id
of a tick that has not come yet (which would then start nothing). ``Engine.start`` refuses them.
"""

from __future__ import annotations

from .errors import InvalidRunIdError

RESERVED_PREFIX = "schedule:"


def check_not_scheduled(run_id: str | None) -> None:
    """Raise :class:`InvalidRunIdError` for a run id only schedules may use."""
    if isinstance(run_id, str) and run_id.startswith(RESERVED_PREFIX):
        raise InvalidRunIdError(
            f"invalid run id {run_id!r}: ids starting with {RESERVED_PREFIX!r} are reserved for the runs "
            "schedules start; use another id, or engine.schedules.trigger(name) to run a schedule now"
        )
