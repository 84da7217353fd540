"""Step branches: steps that run as their own messages (branches of ``all_of``/``any_of``, ``queue=`` steps).

The evaluator of such a branch never runs the step: it decides when to send an attempt
(:class:`~.actions.Dispatch`, written as a branch record with the next commit and sent after it)
and reads what came back from the branch record (``"<position>/<path>"``): ``d`` the attempt
dispatched, ``s`` the attempt a worker started, ``hb`` that worker's heartbeat deadline,
``started``, and ``r`` the attempt's report. The worker side is
:meth:`flowgen.runtime.Runtime.run_branch`.

* a report of the dispatched attempt: record it; succeed, fail for good, or retry (after the
  back-off, as a new dispatch);
* started, heartbeat live: wait for it (until the heartbeat deadline);
* started, heartbeat expired: the worker died; record a crashed attempt and dispatch again
  (unless the crash limit is reached);
* not started within ``grace`` of its dispatch: the message was lost; send it again;
* parked (``pk``): the worker found no step slot or rate-limit token for it
  (:mod:`flowgen.stores.flow_branches`); the same attempt is sent again at ``pk`` (made due at
  once when a slot is released), no retry spent.

A step with ``concurrency=`` or ``rate_limit=`` carries its gates (``g``, computed from the
call's arguments here, as for an inline attempt) in the branch record.
"""

from __future__ import annotations

from typing import Any

from .. import slots
from ..commands import StepCall
from ..decoding import check_report
from ..decorators import Registry, Step
from ..error_records import error_summary, rebuild_error
from ..flow_start import step_gates
from ..journal import (
    ATTEMPT_CRASHED,
    ATTEMPT_ERROR,
    ATTEMPT_OK,
    ATTEMPT_TIMEOUT,
    Attempt,
    LeafOutcome,
    LeafState,
    OpenEntry,
)
from ..steps import crash_error, decide_after_failure
from ..stores.base import RunRecord
from .actions import BranchOutcome, Dispatch, FailRun
from .entries import slot
from .parallel import TreePass
from .view import RunView


def evaluate(view: RunView, tree: TreePass, path: str, call: StepCall, state: LeafState) -> BranchOutcome:
    """Evaluate the step branch ``call`` at ``path`` of the tree (see the module docstring)."""
    step = view.step_for(call)
    key = f"{tree.position}/{path}"
    now = view.now
    grace = view.settings.grace
    if state.dispatched:
        branch = view.branches.get(key) or {}
        report = branch.get("r") if branch.get("d") == state.dispatched else None
        if report is not None:
            return _report(view, tree, step, state, report, slot(view, tree.position, path))
        parked = branch.get("pk") if branch.get("d") == state.dispatched else None
        if parked is not None and branch.get("s") != state.dispatched:
            # refused by a step limit or rate limit: sent again when its slot or token is due
            tree.internal = True
            if parked > now:
                tree.at_parked(parked)
                return None
            _dispatch(view, tree, key, call, step, state, state.dispatched)
            tree.at(now + grace)
            return None
        if branch.get("s") == state.dispatched:
            heartbeat = float(branch.get("hb", 0))
            if heartbeat >= now:
                tree.at(heartbeat)
                tree.internal = True
                return None
            state.attempts.append(
                Attempt(
                    state.dispatched,
                    float(branch.get("started", state.dispatched_at or now)),
                    ATTEMPT_CRASHED,
                    now,
                )
            )
            state.dispatched = 0
            crashed = crash_error(step, state)
            if crashed is not None:
                return LeafOutcome(False, error=crashed, finished=now)
        else:
            sent = state.dispatched_at or now
            tree.internal = True
            if now - sent < grace:
                tree.at(sent + grace)
                return None
            _dispatch(view, tree, key, call, step, state, state.dispatched)
            tree.at(now + grace)
            return None
    if state.next_at is not None and state.next_at > now:
        tree.at(state.next_at)
        return None
    _dispatch(view, tree, key, call, step, state, len(state.attempts) + 1)
    tree.at(now + grace)
    tree.internal = True
    return None


def _report(
    view: RunView, tree: TreePass, step: Step, state: LeafState, report: dict[str, Any], slot: str
) -> BranchOutcome:
    """Record the reported attempt; return the branch's outcome, or ``None`` while it backs off to retry.

    The report's shape is checked, and its error record's seal (for ``slot``), before any use.
    """
    check_report(report, run_id=view.run_id, slot=slot)
    finished = float(report.get("finished", view.now))
    error = (
        None
        if report["ok"]
        else view.serializer.open_record(report.get("error"), run_id=view.run_id, slot=slot)
    )
    if report.get("fatal"):
        return FailRun(rebuild_error(error), discard_pending=True)
    status = ATTEMPT_OK if report["ok"] else ATTEMPT_TIMEOUT if report.get("timeout") else ATTEMPT_ERROR
    state.attempts.append(
        Attempt(
            state.dispatched,
            float(report.get("started", finished)),
            status,
            finished,
            None if error is None else error_summary(error),
        )
    )
    state.dispatched = 0
    if report["ok"]:
        state.outcome = LeafOutcome(True, value=report["value"], finished=finished)
        return state.outcome
    assert error is not None
    decision = decide_after_failure(step, state, error, bool(report.get("retryable")), view.rng)
    if not decision.retry:
        state.outcome = LeafOutcome(False, error=decision.error, finished=finished)
        return state.outcome
    state.next_at = finished + decision.delay
    tree.at(state.next_at)
    return None


def _dispatch(
    view: RunView, tree: TreePass, key: str, call: StepCall, step: Step, state: LeafState, attempt: int
) -> None:
    """Decide to send attempt ``attempt`` of the branch ``key`` (written and sent with the next commit)."""
    args = view.serializer.encode(
        {"args": list(call.args), "kwargs": dict(call.kwargs)},
        run_id=view.run_id,
        slot=slots.branch_args(view.run_record.generation, key),
        what=f"the arguments of step {step.name!r}",
    )
    state.dispatched = attempt
    state.dispatched_at = view.now
    state.next_at = None
    record = view.run_record
    branch_record: dict[str, Any] = {
        "d": attempt,
        "step": step.name,
        "args": args,
        "workflow": record.workflow,
        "gen": record.generation,
    }
    gates = step_gates(step, call.args, call.kwargs)
    if gates:
        branch_record["g"] = gates  # taken by the worker that begins the attempt (flow_branches)
    tree.dispatch.append(Dispatch(key, attempt, branch_record, step.queue))


def queues_waited_on(record: RunRecord, registry: Registry) -> list[str]:
    """The ``queue=`` of each step branch the run's open entry has dispatched and not heard back from.

    For inspection (``RunInfo.unconsumed_queues``); steps not declared in this process are skipped.
    """
    if record.open is None or record.is_finished or '"dispatched"' not in record.open:
        return []
    queues = set()
    for state in OpenEntry.from_json(record.open).leaves.values():
        step = registry.steps.get(state.name) if state.kind == StepCall.kind and state.dispatched else None
        if step is not None and step.queue and state.outcome is None:
            queues.add(step.queue)
    return sorted(queues)
