"""``flowgen.schedule_info()``: which schedule and tick the running step's run belongs to."""

from __future__ import annotations

from ..context import step_context
from .firing import TickOfRun, parse_run_id


def schedule_info() -> TickOfRun | None:
    """Return the schedule and tick of the run the current step belongs to (``None``: not scheduled).

    ``tick`` is an aware datetime in the schedule's time zone (its UTC offset at the tick), so
    a nightly report knows which night it covers, on its first attempt as on a retry.

    Raises:
        FlowgenError: called outside a running step (workflows get the tick with ``tick_arg``).
    """
    return parse_run_id(step_context().run_id)
