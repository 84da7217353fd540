"""Sagas: run the compensations of completed steps, newest first (``compensate()`` and failed runs).

A step declared with ``compensate=undo`` is compensable once it completed. Compensations run
when the workflow yields ``flowgen.compensate()`` (the workflow then goes on), and when a run
fails with compensable steps behind it (it then ends with :class:`~flowgen.errors.CompensatedError`
wrapping the failure). Either way they form one journal entry of kind ``compensate`` whose
branches are the compensations to run, fixed when the entry opens (each names the position it
undoes), so a run resumed after a crash finishes the same list. Each runs as a durable inline
step (:func:`.steps.attempt_branch`, with its own retries); one that fails for good is recorded
and the next one still runs. Steps a previous compensation entry undid are not undone again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..commands import AllOf, AnyOf, Compensate, StepCall, branches_of
from ..errors import CompensatedError
from ..interpreter import Outcome
from ..journal import Entry, LeafOutcome, LeafState, OpenEntry
from ..status import RunStatus
from ..stores.base import CANCEL_REQUESTED
from . import steps
from .actions import Action, Begin, DeliverCancel, FailRun, Load, Resolve, SetStatus, Wait
from .entries import seal, slot
from .view import RunView


def compensate(view: RunView, position: int) -> Action:
    """The ``compensate()`` command: run the compensations due so far, then the workflow goes on."""
    return _compensations(view, position, None, status_after=RunStatus.RUNNING)


def after_failure(view: RunView, position: int, error: BaseException) -> Action:
    """The workflow raised ``error``: compensate what it completed, then end the run failed.

    Without compensable steps the run fails with ``error`` itself. A cancellation requested
    meanwhile only makes the final status ``cancelled``; a pause parks the run first.
    """
    entry = view.open
    resuming = entry is not None and entry.position == position and entry.kind == Compensate.kind
    if not resuming:
        if view.journal is None:
            return Load(journal=True)
        if not compensable(view, position):
            return FailRun(error)
    if view.cancel_state == CANCEL_REQUESTED:
        return DeliverCancel()
    if view.pause_requested:
        return Wait(status=RunStatus.PAUSED)
    result = _compensations(view, position, error)
    if isinstance(result, Resolve):
        return FailRun(compensated_error(error, result.outcome.value), append=result.entry)
    return result


def _compensations(
    view: RunView, position: int, failure: BaseException | None, status_after: RunStatus | None = None
) -> Action:
    """Run the compensation entry at ``position`` to its end: open it, run each branch, close it."""
    entry = view.open if view.open is not None and view.open.position == position else None
    if entry is not None and view.status != RunStatus.COMPENSATING:
        return SetStatus(RunStatus.COMPENSATING)
    if view.journal is None:
        return Load(journal=True)
    if entry is None:
        branches = {}
        for index, (key, call) in enumerate(compensable(view, position)):
            undo = view.step_for(call).compensate
            assert undo is not None
            branches[str(index)] = LeafState(
                kind="step", name=undo.name, info={"for": key, "undoes": call.step_name}
            )
        return Begin(
            OpenEntry(position, Compensate.kind, Compensate.name, view.now, branches), RunStatus.COMPENSATING
        )
    calls = compensation_calls(view, entry)
    for path in sorted(entry.leaves, key=int):
        state = entry.leaves[path]
        if state.outcome is None:
            call = calls[path]
            result = steps.attempt_branch(view, position, path, call, view.step_for(call), state)
            if not isinstance(result, LeafOutcome):
                return result
            state.outcome = seal(view, position, path, call, state, result)
    summary = []
    records = {}
    for path in sorted(entry.leaves, key=int):
        state = entry.leaves[path]
        assert state.outcome is not None
        error = None
        if not state.outcome.ok:
            record = view.serializer.open_record(
                state.outcome.error, run_id=view.run_id, slot=slot(view, position, path)
            )
            error = str(record.get("message", ""))
        summary.append(
            {
                "step": state.name,
                "undoes": state.info["undoes"],
                "for": state.info["for"],
                "ok": state.outcome.ok,
                "error": error,
            }
        )
        records[path] = {
            "kind": state.kind,
            "name": state.name,
            **state.outcome.to_dict(),
            "attempts": [a.to_dict() for a in state.attempts],
            "info": state.info,
        }
    text, decoded = view.serializer.roundtrip(
        summary, run_id=view.run_id, slot=slot(view, position), what="a compensation summary"
    )
    closed = Entry(
        position,
        Compensate.kind,
        Compensate.name,
        True,
        value=text,
        started=entry.started,
        finished=view.now,
        leaves=records,
        info={"trigger": "failure" if failure is not None else "explicit"},
    )
    return Resolve(closed, Outcome.success(decoded), status=status_after)


def compensable(view: RunView, before: int) -> list[tuple[str, StepCall]]:
    """Completed steps before ``before`` that declare a compensation and were not compensated yet.

    Returned newest first (the order compensations run in), keyed ``"<pos>"``, or
    ``"<pos>/<path>"`` for branches of ``all_of``/``any_of``. Needs :attr:`~.view.RunView.journal`.
    """
    history = view.history
    entries = view.journal
    assert entries is not None
    found: list[tuple[str, StepCall]] = []
    done: set[str] = set()
    for entry in entries[:before]:
        if entry.kind == Compensate.kind:
            done.update(branch["info"]["for"] for branch in entry.leaves.values())
            continue
        command = history[entry.position] if entry.position < len(history) else None
        if isinstance(command, StepCall) and entry.ok:
            found.append((str(entry.position), command))
        elif isinstance(command, (AllOf, AnyOf)):
            for path, branch in branches_of(command):
                if isinstance(branch, StepCall) and entry.leaves.get(path, {}).get("ok"):
                    found.append((f"{entry.position}/{path}", branch))
    result = [
        (key, call) for key, call in found if key not in done and view.step_for(call).compensate is not None
    ]
    return list(reversed(result))


def compensation_calls(view: RunView, entry: OpenEntry) -> dict[str, StepCall]:
    """Build the call of each compensation branch: the undo step with the original arguments."""
    assert view.journal is not None
    entries = {closed.position: closed for closed in view.journal}
    calls = {}
    for path, state in entry.leaves.items():
        key = state.info["for"]
        position_text, _, branch_path = key.partition("/")
        position = int(position_text)
        command = view.history[position]
        original = dict(branches_of(command))[branch_path] if branch_path else command
        assert isinstance(original, StepCall)
        closed = entries[position]
        value_text = closed.leaves[branch_path].get("value") if branch_path else closed.value
        result = (
            None
            if value_text is None
            else view.serializer.decode(
                value_text, run_id=view.run_id, slot=slot(view, position, branch_path)
            )
        )
        undo = view.step_for(original).compensate
        assert undo is not None
        kwargs = dict(original.kwargs)
        if _accepts_result(undo.fn):
            kwargs["result"] = result
        calls[path] = undo(*original.args, **kwargs)
    return calls


def _accepts_result(fn: Callable[..., Any]) -> bool:
    """Whether a compensation function takes the undone step's result (a ``result`` parameter)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "result" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def compensated_error(error: BaseException, summary: list[dict[str, Any]]) -> CompensatedError:
    """The error a failed run ends with once its compensations ran: ``error``, and what each did."""
    ran = "; ".join(
        f"{item['step']} undoing {item['undoes']} at position {item['for']}: "
        + ("ok" if item["ok"] else f"failed: {item['error']}")
        for item in summary
    )
    compensated = CompensatedError(
        f"{type(error).__name__}: {error}. Compensations run, newest first: {ran or 'none'}", summary
    )
    compensated.__cause__ = error
    return compensated
