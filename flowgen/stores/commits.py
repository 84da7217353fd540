"""Commits: the one write that advances a run, as a guard plus a list of typed operations.

Part of the store contract (:mod:`flowgen.stores.base` re-exports every name here); the rules
that apply the operations are in :mod:`flowgen.stores.logic` and ``lua/commit.lua``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import attrs

from ..journal import Entry, OpenEntry
from ..status import RunStatus

# -- commits: one guard, a list of typed operations ---------------------------------------------
#
# A commit is the only write that advances a run. Its guard (lease epoch, journal position) is
# checked first, then every operation's own precondition (the heads of the inboxes it consumes),
# and only then are the operations applied, in list order. Each operation below is written once
# per store family: a function in stores/logic.py (memory, SQLite), an encoder branch in
# stores/redis.py and a branch in lua/commit.lua. A new kind of write is one class here (added
# to ``Operation``) plus those three; mypy --strict fails until both Python dispatches have it,
# tests/stores/test_vocabulary.py until the Lua script has it.


@attrs.frozen
class AppendEntries:
    """Append closed journal entries at the journal's end (the guard fixed where that is)."""

    entries: tuple[Entry, ...]


@attrs.frozen
class ConsumeEvent:
    """Take the event ``event_id`` off the head of its inbox.

    Precondition, checked before anything is written: the consumed ids of each event type are
    the first events of that inbox, in order; otherwise the commit is a ``conflict``.
    """

    event_type: str
    event_id: str


@attrs.frozen
class SetOpen:
    """Set the open entry (the command the run is at), or clear it with ``None``."""

    entry: OpenEntry | None


@attrs.frozen
class StartAttempt:
    """Set the open entry to one recording a step attempt about to start, unless held.

    If a pause or a cancellation was pending when the commit began, nothing is written by this
    operation and the result says ``held``: the attempt does not start, and the runtime parks
    or cancels at this step boundary instead.
    """

    entry: OpenEntry


@attrs.frozen
class WriteBranch:
    """Write the dispatch record of a branch (``"<position>/<path>"``), or delete it with ``None``.

    Writing a record also drops what workers reported about the branch's earlier attempts
    (started, heartbeat, outcome): a new record is a new dispatch.
    """

    key: str
    record: dict[str, Any] | None


@attrs.frozen
class SetStatus:
    """Change the run's status (for example to ``compensating`` and back to ``running``)."""

    status: RunStatus = attrs.field(converter=RunStatus)


@attrs.frozen
class DeliverCancel:
    """Mark a requested cancellation as delivered (raised into the workflow)."""


@attrs.frozen
class NewGeneration:
    """Continue as new: empty the journal and the open entry, start the next generation.

    ``args`` are the new encoded ``{"args": [...], "kwargs": {...}}`` of the workflow call.
    """

    args: str


@attrs.frozen
class Park:
    """End the advance by parking the run until an event type, a timer or a signal wakes it.

    The park only happens if the run's ``signals`` counter still equals ``signals``: an event,
    a branch outcome or a control request that arrived after the snapshot the decision was
    based on makes it re-evaluate instead (the result says ``parked=False``), so no wake-up is
    lost between "nothing to do" and "parked". The engine reads the inbox of every event type
    it parks on before parking. Only the last operation of a commit may be a park.
    """

    signals: int
    waiting: tuple[str, ...] = ()
    timer: float | None = None
    status: RunStatus = attrs.field(default=RunStatus.WAITING, converter=RunStatus)


@attrs.frozen
class Finish:
    """End the run with a final status and its output or error (only as the last operation).

    The lease, open entry, timer, ready entry, inboxes and branches go; waiters of
    ``wait_finished`` are woken, and so is a parent waiting on this run.
    """

    status: RunStatus = attrs.field(converter=RunStatus)
    output: str | None = None
    error: dict[str, Any] | None = None


Operation = (
    AppendEntries
    | ConsumeEvent
    | SetOpen
    | StartAttempt
    | WriteBranch
    | SetStatus
    | DeliverCancel
    | NewGeneration
    | Park
    | Finish
)
"""One write of a :class:`Commit`."""

_TERMINAL = (Park, Finish)


def unknown_operation(operation: NoReturn) -> NoReturn:
    """Close a dispatch on :data:`Operation`: the type checker fails if a kind has no branch."""
    raise TypeError(f"not a commit operation: {operation!r}")


def _terminal_last(_commit: Any, _attribute: Any, operations: Sequence[Operation]) -> None:
    for operation in operations[:-1]:
        if isinstance(operation, _TERMINAL):
            raise ValueError(
                f"{type(operation).__name__} ends a commit, so it must be its last operation; "
                f"got operations {[type(op).__name__ for op in operations]}"
            )


@attrs.define  # not frozen: a frozen attrs class costs twice as much to build, at every step
class Commit:
    """One atomic, fenced write that advances a run: a guard and a list of operations.

    The guard: the lease ``epoch`` must still be the run's (and the run not finished) or the
    result is ``stale``; the journal must have exactly ``position`` entries or it is a
    ``conflict``. The operations' preconditions are checked next (:class:`ConsumeEvent`); if all
    hold, the operations are applied in order and the run's ``updated`` time becomes ``now``.
    A :class:`Park` or :class:`Finish` may only come last.
    """

    run_id: str
    epoch: int
    position: int
    operations: Sequence[Operation] = attrs.field(default=(), validator=_terminal_last)


@attrs.define  # not frozen, like Commit: built at every step boundary, read once, never changed
class CommitResult:
    """What a commit did.

    Attributes:
        ok: the commit was applied.
        reason: why it was not, a :class:`Reason` (``stale``: the lease was lost;
            ``conflict``: the journal is not at the expected position or an inbox head moved).
        parked: the park was applied (``False`` when signals changed: re-evaluate).
        wake: run ids to enqueue because of this commit (a parent whose child finished).
        pause_requested / cancel_requested: the run's control flags after the commit, so a run
            advancing inline steps notices a pause or a cancellation at its next step boundary.
        held: a :class:`StartAttempt` was not written because a pause or cancellation is pending.
    """

    ok: bool
    reason: str = ""
    parked: bool = False
    wake: tuple[str, ...] = ()
    pause_requested: bool = False
    cancel_requested: str = ""
    held: bool = False
