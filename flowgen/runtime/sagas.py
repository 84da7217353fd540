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

from .. import slots
from ..commands import Compensate, StepCall, branches_of
from ..decoding import decode_call
from ..decorators import Step
from ..errors import CompensatedError, FlowgenError
from ..interpreter import Outcome
from ..journal import Entry, LeafOutcome, LeafState, OpenEntry
from ..status import RunStatus
from ..stores.base import CANCEL_REQUESTED
from . import child_sagas, steps
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
        due = child_sagas.plan(view, position)
        if isinstance(due, tuple):
            return Load(child_histories=due)
        if not due:
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
        due = child_sagas.plan(view, position)
        if isinstance(due, tuple):
            return Load(child_histories=due)
        branches = {str(index): _branch(view, position, str(index), item) for index, item in enumerate(due)}
        return Begin(
            OpenEntry(position, Compensate.kind, Compensate.name, view.now, branches), RunStatus.COMPENSATING
        )
    calls = compensation_calls(view, entry)
    for path in sorted(entry.leaves, key=int):
        state = entry.leaves[path]
        if state.outcome is None and "problem" in state.info:
            # A completed child whose compensations could not be found: a failed compensation.
            problem = FlowgenError(
                f"child run {state.info['child']!r} was not compensated: {state.info['problem']}"
            )
            record = view.serializer.error_record(
                problem, run_id=view.run_id, slot=slot(view, position, path)
            )
            state.outcome = LeafOutcome(False, error=record, finished=view.now)
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
        item = {
            "step": state.name,
            "undoes": state.info["undoes"],
            "for": state.info["for"],
            "ok": state.outcome.ok,
            "error": error,
        }
        if "child" in state.info:
            item["child"] = state.info["child"]
        summary.append(item)
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


def _branch(view: RunView, position: int, path: str, item: child_sagas.Item) -> LeafState:
    """The branch of the compensation entry that runs ``item``'s compensation.

    A child's step is not in this run's history, so the compensation's call (its arguments
    and the undone step's result) is built now, from the child's journal, and kept encoded in
    the branch (sealed for this run): a resumed compensation runs exactly that call.
    """
    if isinstance(item, child_sagas.Unreplayable):
        info = {"for": item.key, "undoes": item.workflow, "child": item.child, "problem": item.problem}
        return LeafState(kind=StepCall.kind, name=item.workflow, info=info)
    undo = view.step_for(item.call).compensate
    assert undo is not None
    info = {"for": item.key, "undoes": item.call.step_name}
    if item.child:
        result = _decoded(view, item.value, item.run_id, child_sagas.result_slot(item))
        call = _undo_call(undo, item.call, result)
        info["child"] = item.run_id
        info["call"] = view.serializer.encode(
            {"args": list(call.args), "kwargs": dict(call.kwargs)},
            run_id=view.run_id,
            slot=slots.branch_args(view.run_record.generation, slots.key(position, path)),
            what=f"the call of compensation {undo.name!r} of child run {item.run_id!r}",
        )
    return LeafState(kind=StepCall.kind, name=undo.name, info=info)


def compensation_calls(view: RunView, entry: OpenEntry) -> dict[str, StepCall]:
    """Build the call of each compensation branch: the undo step with the original arguments."""
    assert view.journal is not None
    entries = {closed.position: closed for closed in view.journal}
    calls = {}
    generation = view.run_record.generation
    for path, state in entry.leaves.items():
        if "problem" in state.info:
            continue
        if "call" in state.info:
            slot_name = slots.branch_args(generation, slots.key(entry.position, path))
            args, kwargs = decode_call(
                view.serializer, state.info["call"], run_id=view.run_id, slot=slot_name
            )
            calls[path] = StepCall(state.name, tuple(args), kwargs)
            continue
        position_text, _, branch_path = state.info["for"].partition("/")
        position = int(position_text)
        command = view.history[position]
        original = dict(branches_of(command))[branch_path] if branch_path else command
        assert isinstance(original, StepCall)
        closed = entries[position]
        value_text = closed.leaves[branch_path].get("value") if branch_path else closed.value
        result = _decoded(view, value_text, view.run_id, slot(view, position, branch_path))
        undo = view.step_for(original).compensate
        assert undo is not None
        calls[path] = _undo_call(undo, original, result)
    return calls


def _decoded(view: RunView, text: str | None, run_id: str, slot_name: str) -> Any:
    return None if text is None else view.serializer.decode(text, run_id=run_id, slot=slot_name)


def _undo_call(undo: Step, original: StepCall, result: Any) -> StepCall:
    """The call of ``undo`` for the completed ``original``: its arguments, plus ``result=`` if taken."""
    kwargs = dict(original.kwargs)
    if _accepts_result(undo.fn):
        kwargs["result"] = result
    return undo(*original.args, **kwargs)


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
