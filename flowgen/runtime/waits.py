"""Waits: sleeps, event waits (with their timeouts), and deterministic values (``now``, ``uuid4``, ``random``).

Sleeps and event waits are branches of a tree (:mod:`.parallel`; alone, a tree of one). Their
due time is fixed when their entry opens (the entry's ``started`` plus the duration) and kept in
the open entry, so a resumed run never recomputes "now + delay". An event wait resolves with the
first event of its type in the inbox that was sent before the deadline, else with
:class:`~flowgen.errors.EventTimeoutError` once the deadline has passed; the event is consumed
by the commit that journals the outcome.

Deterministic values resolve at once with a fresh value, journaled so replay sees the same one.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from ..commands import DeterministicValue, Sleep, SleepUntil, WaitForEvent
from ..error_records import error_record
from ..errors import EventTimeoutError
from ..interpreter import Outcome
from ..journal import Entry, LeafOutcome, LeafState
from .actions import BranchOutcome, Resolve
from .entries import slot
from .parallel import TreePass
from .view import RunView


def sleep(view: RunView, tree: TreePass, _path: str, command: Sleep, state: LeafState) -> BranchOutcome:
    """A ``sleep(duration)`` branch: done once its due time has passed."""
    return _until(view, tree, state, tree.entry.started + command.seconds)


def sleep_until(
    view: RunView, tree: TreePass, _path: str, command: SleepUntil, state: LeafState
) -> BranchOutcome:
    """A ``sleep_until(moment)`` branch: done once the moment has passed."""
    return _until(view, tree, state, command.timestamp)


def _until(view: RunView, tree: TreePass, state: LeafState, due: float) -> BranchOutcome:
    if state.due is None:
        _set_due(state, due)
    assert state.due is not None
    if view.now >= state.due:
        return LeafOutcome(True, value="null", finished=state.due)
    tree.at(state.due)
    return None


def _set_due(state: LeafState, due: float) -> None:
    """Fix a branch's due time in its open entry (and in what its closed entry keeps)."""
    state.due = due
    state.info["due"] = due


def event(view: RunView, tree: TreePass, path: str, command: WaitForEvent, state: LeafState) -> BranchOutcome:
    """A ``wait_for_event(type, timeout)`` branch (see the module docstring)."""
    if command.timeout is not None and state.due is None:
        _set_due(state, tree.entry.started + command.timeout)
    available = view.inbox.events.get(command.type, [])
    index = tree.handed_out.get(command.type, 0)
    if index < len(available):
        found = available[index]
        if state.due is None or found.sent <= state.due:
            tree.handed_out[command.type] = index + 1
            tree.events[path] = found.id
            state.info["event_id"] = found.id
            return LeafOutcome(True, value=found.payload, finished=found.sent)
    if state.due is not None and view.now >= state.due:
        error = EventTimeoutError(
            f"no event {command.type!r} arrived within {command.timeout:g}s (the wait timed out at {state.due:.3f})"
        )
        return LeafOutcome(False, error=error_record(error, ""), finished=state.due)
    tree.types.append(command.type)
    tree.at(state.due)
    return None


def deterministic(view: RunView, position: int, command: DeterministicValue) -> Resolve:
    """Resolve ``now()``, ``uuid4()`` or ``random()`` with a fresh value, journaled for replay."""
    now = view.now
    value: Any
    if command.name == "now":
        value = datetime.fromtimestamp(now, timezone.utc)
    elif command.name == "uuid4":
        value = uuid.uuid4()
    else:
        value = view.rng.random()
    text, decoded = view.serializer.roundtrip(
        value, run_id=view.run_id, slot=slot(view, position), what=command.describe()
    )
    entry = Entry(position, command.kind, command.name, True, value=text, started=now, finished=now)
    return Resolve(entry, Outcome.success(decoded))
