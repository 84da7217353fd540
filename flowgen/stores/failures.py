"""Why a store refuses an operation, and the one mapping of those reasons to exceptions.

A Lua script of the Redis store replies a reason's code (``{'missing'}``, ``{'finished',
status}``); :mod:`~flowgen.stores.logic` names the reason itself. Both go through
:func:`store_error`, so a user gets the same exception and the same message from every store
(``tests/stores/test_failures.py`` checks it).
"""

from __future__ import annotations

from ..errors import FlowgenError, RunFinishedError, RunNotFoundError, RunStateError
from ..status import TextEnum


class Reason(TextEnum):
    """Why a store refused an operation: the codes its Lua scripts reply and :mod:`.logic` uses.

    Every store turns the first four into exceptions through :func:`store_error` (one message
    per reason, whichever store refused). ``stale`` and ``conflict`` are not errors of the
    caller's making: :class:`CommitResult` reports them and the runtime, which tried to write
    under a lease it no longer holds, gives the run up.
    """

    MISSING = "missing"
    """No run has this id (:class:`~flowgen.errors.RunNotFoundError`)."""
    FINISHED = "finished"
    """The run has ended; the operation needs a live one (:class:`~flowgen.errors.RunFinishedError`)."""
    NOT_PAUSED = "not_paused"
    """``resume`` of a run that is neither paused nor pausing (:class:`~flowgen.errors.RunStateError`)."""
    NOT_FAILED = "not_failed"
    """``retry`` of a run that did not fail (:class:`~flowgen.errors.RunStateError`)."""
    STALE = "stale"
    """A commit under an epoch that no longer holds the lease (or of a finished run)."""
    CONFLICT = "conflict"
    """A commit at a journal position or inbox heads that moved since its snapshot."""


_FAILURES: dict[Reason, tuple[type[FlowgenError], str]] = {
    Reason.MISSING: (RunNotFoundError, "no run with id {run_id!r}{consequence}"),
    Reason.FINISHED: (RunFinishedError, "run {run_id!r} has already finished ({status}){consequence}"),
    Reason.NOT_PAUSED: (RunStateError, "run {run_id!r} is {status}, not paused; there is nothing to resume"),
    Reason.NOT_FAILED: (
        RunStateError,
        "run {run_id!r} is {status}; only a failed run can be retried (restart() runs it again)",
    ),
}


def store_error(reason: str, run_id: str, *, status: str = "", consequence: str = "") -> FlowgenError:
    """The exception for a refused operation: the one mapping of :class:`Reason` to errors.

    Args:
        reason: a :class:`Reason` (or its string, as a Lua script replies it).
        status: the run's status, for the reasons whose message names it.
        consequence: what the operation would have done, said after the reason when the run
            is missing or finished (``"the event 'paid' was not delivered"``).

    Raises:
        ValueError: ``reason`` is not one that is raised (``stale``/``conflict`` are results).
    """
    try:
        error_class, template = _FAILURES[Reason(reason)]
    except (KeyError, ValueError):
        raise ValueError(f"store reply {str(reason)!r} for run {run_id!r} is not a failure reason") from None
    return error_class(
        template.format(run_id=run_id, status=status, consequence=f"; {consequence}" if consequence else "")
    )
