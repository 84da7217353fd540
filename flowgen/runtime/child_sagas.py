"""The plan of a saga: which completed steps a compensation undoes, completed child runs included.

A parent's compensation (``compensate()``, or a failure with compensable work behind it) undoes
its own completed steps and, in their place in the same newest-first order, the completed
**child runs** it waited for (``child(...)``, unless ``compensate=False``; ``start_child(...)``
only with ``compensate=True``). Compensating a completed child means running, as branches of the
parent's own compensation entry, the compensations the child's saga would run: its completed
steps, newest first, and its own completed children's, recursively. To find them the advance
loop reads the child's record and journal and replays the child's workflow (pure code, no step
runs: :func:`.replay.read_child`); the child's run record and journal stay as they are.

Every item is keyed by the place it undoes (``"for"`` in the compensation entry): ``"<pos>"`` or
``"<pos>/<member>"`` in the parent, and ``"<child key>><key in the child>"`` for a child's, so
``"2>1/0"`` is member 0 of the ``all_of`` at position 1 of the child started at position 2. A
place a compensation entry undid is never undone again, neither by a later compensation of the
parent nor (for the child's own entries) one the child ran itself.

This module is pure: it asks for the facts it lacks (:class:`~.actions.Load` with
``child_histories``) and returns the plan once it has them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from .. import slots
from ..commands import AllOf, AnyOf, ChildRun, Compensate, StepCall, branches_of
from ..decorators import Step
from ..journal import Entry
from ..status import RunStatus
from .children import child_id
from .view import ChildHistory, RunView

CHILD_SEPARATOR = ">"
"""Joins a child's key in its parent with a key inside the child (``"2>0"``)."""


@attrs.frozen
class Undo:
    """A completed step to compensate: ``call`` at ``position``/``path`` of run ``run_id``.

    ``value`` is its journaled result (encoded, sealed for that run's slot); ``child`` is
    ``True`` when the step belongs to a child run rather than to the run compensating.
    """

    key: str
    call: StepCall
    run_id: str
    generation: int
    position: int
    path: str
    value: str | None
    child: bool


@attrs.frozen
class Unreplayable:
    """A completed child run whose compensations cannot be found: its replay failed with ``problem``."""

    key: str
    child: str
    workflow: str
    problem: str


Item = Undo | Unreplayable


@attrs.frozen
class _Run:
    """The facts of one run the plan walks: the parent's own, or a replayed child's."""

    run_id: str
    generation: int
    history: Sequence[Any]
    journal: Sequence[Entry]


def plan(view: RunView, before: int) -> list[Item] | tuple[str, ...]:
    """The compensations due for the entries before ``before``, newest first; or the child runs
    to read first (their ids). Needs :attr:`~.view.RunView.journal`."""
    assert view.journal is not None
    missing: list[str] = []
    own = _Run(view.run_id, view.run_record.generation, view.history, view.journal[:before])
    items = _walk(own, view.step_for, view.child_histories, missing, top=True)
    return tuple(dict.fromkeys(missing)) if missing else items


def _walk(
    run: _Run,
    step_for: Callable[[StepCall], Step],
    histories: Mapping[str, ChildHistory],
    missing: list[str],
    top: bool,
) -> list[Item]:
    """The items of ``run``, newest first, keyed within it (children expanded in their place)."""
    done: set[str] = set()
    found: list[tuple[str, int, str, StepCall | ChildRun, str | None]] = []
    for entry in run.journal:
        if entry.kind == Compensate.kind:
            done.update(branch["info"]["for"] for branch in entry.leaves.values())
            continue
        command = run.history[entry.position] if entry.position < len(run.history) else None
        if isinstance(command, (StepCall, ChildRun)) and entry.ok:
            found.append((str(entry.position), entry.position, "", command, entry.value))
        elif isinstance(command, (AllOf, AnyOf)):
            for path, branch in branches_of(command):
                leaf = entry.leaves.get(path, {})
                if isinstance(branch, (StepCall, ChildRun)) and leaf.get("ok"):
                    found.append(
                        (f"{entry.position}/{path}", entry.position, path, branch, leaf.get("value"))
                    )
    items: list[Item] = []
    for key, position, path, command, value in reversed(found):
        if key in done:
            continue
        if isinstance(command, StepCall):
            if step_for(command).compensate is not None:
                items.append(Undo(key, command, run.run_id, run.generation, position, path, value, not top))
            continue
        if not command.compensate:
            continue
        child = command.run_id or child_id(run.run_id, run.generation, position, path)
        history = histories.get(child)
        if history is None:
            missing.append(child)
            continue
        record = history.record
        if record is None or record.status != RunStatus.COMPLETED:
            continue  # a start_child(...) run still going (or gone): not compensated
        if history.problem is not None:
            items.append(Unreplayable(key, child, record.workflow, history.problem))
            continue
        inner = _Run(child, record.generation, history.history, history.journal)
        for item in _walk(inner, step_for, histories, missing, top=False):
            nested = f"{key}{CHILD_SEPARATOR}{item.key}"
            if nested not in done:
                items.append(attrs.evolve(item, key=nested))
    return items


def result_slot(item: Undo) -> str:
    """The slot the undone step's result is sealed for, in the run that journaled it."""
    return slots.position(item.generation, item.position, item.path)
