"""Control: requested cancellations and pauses, ``continue_as_new``, and the journal size limit.

These are decided when the run reaches a command, before the command's own evaluator runs:

* a requested **cancellation** resolves the command at hand with
  :class:`~flowgen.errors.CancelledError`, raised into the workflow at its current ``yield``
  (branches still running are abandoned like losers; child runs are cancelled by whoever
  requested it, the request cascades to them); the run then ends ``cancelled``;
* a requested **pause** parks the run as ``paused`` until it is resumed;
* ``continue_as_new(...)`` ends this journal and starts the workflow over with new arguments;
* a journal that reached ``journal_limit`` entries fails the run (``continue_as_new`` is the
  way out, so it is exempt), and one past ``journal_warn`` is logged once per advance.
"""

from __future__ import annotations

from ..commands import Command, ContinueAsNew
from ..errors import CancelledError, JournalLimitError, SerializationError
from ..status import RunStatus
from ..stores.base import CANCEL_REQUESTED
from .actions import Action, FailRun, Resolve, Restart, Wait, Warn
from .entries import fail_command
from .settings import encode_call
from .view import RunView


def before(view: RunView, position: int, command: Command) -> Action | None:
    """What must happen before ``command`` is evaluated, if anything: a requested cancellation
    or pause, then the journal size (``continue_as_new`` is exempt: it is the way out)."""
    if view.cancel_state == CANCEL_REQUESTED or view.pause_requested:
        return requested(view, position, command)
    if isinstance(command, ContinueAsNew):
        return None
    return journal_size(view, position)


def requested(view: RunView, position: int, command: Command) -> Resolve | Wait | None:
    """Honour a requested cancellation or pause before ``command`` is evaluated (``None``: neither)."""
    if view.cancel_state == CANCEL_REQUESTED:
        return cancel_here(view, position, command)
    if view.pause_requested:
        return Wait(status=RunStatus.PAUSED)
    return None


def cancel_here(view: RunView, position: int, command: Command) -> Resolve:
    """Resolve the command at ``position`` with ``CancelledError`` (raised into the workflow)."""
    error = CancelledError(
        f"run {view.run_id!r} was cancelled while at {command.describe()} (position {position})"
    )
    resolved = fail_command(view, position, command, error)
    resolved.drop_branches = tuple(key for key in view.branches if key.startswith(f"{position}/"))
    resolved.deliver_cancel = True
    return resolved


def continue_as_new(view: RunView, command: ContinueAsNew) -> FailRun | Restart:
    """End this journal and start the workflow over with new arguments, in this same advance."""
    try:
        workflow = view.run_record.workflow
        version = view.settings.version  # the worker's own; see flowgen.versions
        args = encode_call(view.serializer, view.run_id, workflow, command.args, command.kwargs, version)
    except SerializationError as error:
        return FailRun(error, discard_pending=True)
    return Restart(args, command.args, command.kwargs)


def journal_size(view: RunView, position: int) -> Action | None:
    """Fail a run whose journal reached ``journal_limit``; warn once past ``journal_warn``."""
    settings = view.settings
    if position >= settings.journal_limit:
        return FailRun(
            JournalLimitError(
                f"run {view.run_id!r} reached {position} journal entries, the limit "
                f"(journal_limit={settings.journal_limit}); a workflow that loops forever should "
                "call `yield flowgen.continue_as_new(...)` every so often to start a fresh journal"
            )
        )
    if position >= settings.journal_warn and not view.warned:
        return Warn(position)
    return None
