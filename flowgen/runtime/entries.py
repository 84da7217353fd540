"""Closing a command: the journal entry an outcome becomes, and the :class:`~.actions.Resolve` that journals it.

Also where an outcome gets its seal: :func:`slot` names the journal slot of a position (bound to
the run's generation, :mod:`flowgen.slots`), :func:`seal` seals a branch outcome decided in this
advance for it.
"""

from __future__ import annotations

from typing import Any

from .. import slots
from ..commands import BranchCommand, Command
from ..decoding import decode_plain, seal_branch_outcome
from ..error_records import rebuild_error
from ..interpreter import Outcome
from ..journal import Entry, LeafOutcome, LeafState, OpenEntry
from .actions import Resolve
from .view import RunView


def slot(view: RunView, position: int, path: str = "") -> str:
    """The slot of the outcome at ``position`` (member ``path``) in the run's current generation."""
    return slots.position(view.run_record.generation, position, path)


def seal(
    view: RunView, position: int, path: str, branch: BranchCommand, state: LeafState, outcome: LeafOutcome
) -> LeafOutcome:
    """Seal a branch outcome decided in this advance (never one read from the store)."""
    generation = view.run_record.generation
    return seal_branch_outcome(
        view.serializer, view.run_id, generation, position, path, branch, state, outcome
    )


def close(
    view: RunView,
    entry: OpenEntry,
    state: LeafState,
    outcome: LeafOutcome,
    *,
    finished: float,
    info: dict[str, Any] | None = None,
    decoded: Outcome | None = None,
) -> Resolve:
    """Close a plain command's open entry with its single branch's outcome (and that branch's attempts).

    ``decoded`` is the outcome the workflow gets when the caller already knows it (else it is
    decoded from the entry, as replay will).
    """
    closed = Entry(
        entry.position,
        entry.kind,
        entry.name,
        outcome.ok,
        value=outcome.value,
        error=outcome.error,
        started=entry.started,
        finished=finished,
        attempts=tuple([a.to_dict() for a in state.attempts]),
        info=info if info is not None else {},
    )
    if decoded is None:
        decoded = decode_plain(view.serializer, view.run_id, view.run_record.generation, closed)
    return Resolve(closed, decoded)


def fail_command(view: RunView, position: int, command: Command, error: BaseException) -> Resolve:
    """Resolve ``command`` at once by raising ``error`` into the workflow (as its journaled record)."""
    record = view.serializer.error_record(error, run_id=view.run_id, slot=slot(view, position))
    now = view.now
    entry = Entry(position, command.kind, command.name, False, error=record, started=now, finished=now)
    return Resolve(entry, Outcome.failure(rebuild_error(record)))
