"""Closing a command: the journal entry an outcome becomes, and the :class:`~.actions.Resolve` that journals it."""

from __future__ import annotations

from typing import Any

from ..commands import Command
from ..decoding import decode_plain
from ..interpreter import Outcome
from ..journal import Entry, LeafOutcome, LeafState, OpenEntry
from ..serialization import error_record, rebuild_error
from .actions import Resolve
from .view import RunView


def close(
    view: RunView,
    entry: OpenEntry,
    state: LeafState,
    outcome: LeafOutcome,
    *,
    finished: float,
    info: dict[str, Any] | None = None,
) -> Resolve:
    """Close a plain command's open entry with its single branch's outcome (and that branch's attempts)."""
    closed = Entry(
        entry.position,
        entry.kind,
        entry.name,
        outcome.ok,
        value=outcome.value,
        error=outcome.error,
        started=entry.started,
        finished=finished,
        attempts=tuple(a.to_dict() for a in state.attempts),
        info=info if info is not None else {},
    )
    return Resolve(closed, decode_plain(view.serializer, view.run_id, closed))


def fail_command(view: RunView, position: int, command: Command, error: BaseException) -> Resolve:
    """Resolve ``command`` at once by raising ``error`` into the workflow (as its journaled record)."""
    record = error_record(error)
    now = view.now
    entry = Entry(position, command.kind, command.name, False, error=record, started=now, finished=now)
    return Resolve(entry, Outcome.failure(rebuild_error(record)))
