"""The parallel tree: ``all_of``/``any_of`` and their branches, and every command that waits as one.

A command that cannot be decided in the advancing thread is evaluated as a **tree of branches**:
an ``all_of``/``any_of`` has one branch per command it combines that is not itself one
(nested ones are flattened, see :func:`~flowgen.commands.branches_of`); a plain sleep, event wait, child run or ``queue=`` step
is a tree of the single branch ``""``. One evaluation is a **pass** over every branch that has
no outcome yet: each branch's evaluator (chosen by :func:`.dispatch.evaluate_branch`) returns its
outcome or leaves it pending, adding to the pass what it waits for (timers, event types, a
branch or child report) and what it starts (branch messages, child runs). Then
:func:`~flowgen.combinators.resolve` decides the command from the outcomes so far, or the run
waits for the earliest thing the pass gathered.

Facts a pass needs are read *before* it starts (:class:`~.actions.Load`), so no branch state
changes in a pass that is then thrown away: the inbox heads of every event type the tree waits
on, and the records of the child runs it waits for. Child runs the pass starts are created
between passes (:class:`~.actions.StartChildren`) and the pass runs again with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..combinators import LeafResult, Resolution, resolve
from ..commands import AllOf, AnyOf, BranchCommand, ChildRun, Command, StepCall, WaitForEvent, branches_of
from ..decoding import leaf_result
from ..errors import FlowgenError
from ..interpreter import Outcome
from ..journal import Entry, LeafOutcome, LeafState, OpenEntry
from .actions import Action, BranchOutcome, Dispatch, FailRun, Load, Resolve, StartChild, StartChildren, Wait
from .entries import close, seal, slot
from .view import RunView, count, expand


@attrs.define
class TreePass:
    """What one pass over a tree gathers from its branches (see the module docstring).

    Attributes:
        types: event types pending branches wait for.
        timer: the earliest time a pending branch must be looked at again.
        internal: a pending branch waits for a branch message or a child run to report.
        dispatch: branch messages to send.
        starts: child runs to create.
        events: the inbox event each event branch took, by branch path.
        handed_out: how many events of each type this pass handed out (so two branches waiting
            on one type get two events).
        parked: the earliest time a branch refused by a step limit or rate limit is due again
            (its slot or token: the run's wake-up for it is precise, see ``runtime/wakeups.py``).
    """

    position: int
    entry: OpenEntry
    types: list[str] = attrs.Factory(list)
    timer: float | None = None
    internal: bool = False
    dispatch: list[Dispatch] = attrs.Factory(list)
    starts: list[StartChild] = attrs.Factory(list)
    events: dict[str, str] = attrs.Factory(dict)
    handed_out: dict[str, int] = attrs.Factory(dict)
    parked: float | None = None

    def at(self, when: float | None) -> None:
        """Look at the tree again at ``when`` at the latest."""
        if when is not None and (self.timer is None or when < self.timer):
            self.timer = when

    def at_parked(self, when: float) -> None:
        """Look at the tree again at ``when``, when a parked branch's slot or token is due."""
        self.at(when)
        if self.parked is None or when < self.parked:
            self.parked = when


BranchEvaluator = Callable[[RunView, TreePass, str, BranchCommand, LeafState], BranchOutcome]
"""Evaluates one branch of a pass: ``(view, tree, path, branch, state)``."""


def evaluate(view: RunView, position: int, command: Command, evaluate_branch: BranchEvaluator) -> Action:
    """Evaluate the tree of ``command`` at ``position`` (see the module docstring)."""
    entry = view.open_entry(position, command)
    branches = branches_of(command)
    needed = count(branch.type for _, branch in branches if isinstance(branch, WaitForEvent))
    if any(not view.inbox.knows(event_type, n) for event_type, n in needed.items()):
        return Load(event_types=tuple(expand(needed)))
    unread = tuple(
        child
        for path, branch in branches
        if isinstance(branch, ChildRun)
        and branch.wait
        and (child := entry.leaves[path].child) is not None
        and child not in view.children
    )
    if unread:
        return Load(children=unread)
    tree = TreePass(position, entry)
    results: dict[str, LeafResult] = {}
    outcomes: dict[str, LeafOutcome] = {}
    for path, branch in branches:
        state = entry.leaves[path]
        decided_before = state.outcome is not None
        outcome = state.outcome if decided_before else evaluate_branch(view, tree, path, branch, state)
        if isinstance(outcome, FailRun):
            return outcome
        if outcome is not None and not decided_before:
            seal(view, position, path, branch, state, outcome)
        if outcome is not None:
            outcomes[path] = outcome
            results[path] = leaf_result(
                view.serializer, view.run_id, view.run_record.generation, position, path, outcome
            )
    if tree.starts:
        return StartChildren(tuple(tree.starts), tuple(tree.dispatch))
    winners: dict[str, int] = {}
    resolution = resolve(command, results, winners)
    if resolution is None or _compensable_still_running(view, command, entry, resolution):
        return Wait(tuple(tree.types), tree.timer, tree.internal, dispatch=tuple(tree.dispatch), wake_at=tree.parked)
    losers = tuple(
        state.child
        for path, state in entry.leaves.items()
        if path not in resolution.used and state.child is not None and state.outcome is None
    )
    consume = tuple(
        (entry.leaves[path].name, tree.events[path])
        for path in sorted(resolution.used)
        if path in tree.events
    )
    moot = tuple(key for key in view.branches if key.startswith(f"{position}/"))
    now = view.now
    if not isinstance(command, (AllOf, AnyOf)):
        state = entry.leaves[""]
        closed = close(view, entry, state, outcomes[""], finished=now, info=dict(state.info))
        closed_entry, outcome_value = closed.entry, closed.outcome
    else:
        result = resolution.result
        error = (
            None
            if result.ok or result.error is None
            else view.serializer.error_record(result.error, run_id=view.run_id, slot=slot(view, position))
        )
        closed_entry = _combinator_entry(
            entry,
            outcomes,
            _recorded_branches(entry, outcomes, resolution.used),
            result.ok,
            error,
            winners,
            now,
        )
        outcome_value = (
            Outcome.success(result.value)
            if result.ok
            else Outcome.failure(result.error or FlowgenError("failed"))
        )
    return Resolve(
        closed_entry,
        outcome_value,
        consume=consume,
        dispatch=tuple(tree.dispatch),
        drop_branches=moot,
        cancel_children=losers,
    )


def _compensable_still_running(
    view: RunView, command: Command, entry: OpenEntry, resolution: Resolution
) -> bool:
    """Whether a failed ``all_of`` waits for a member step with a compensation whose attempt is running.

    Such a member is about to have its effect: closing the ``all_of`` now would leave that
    effect out of the saga. The ``all_of`` still fails with its first failure, once the running
    attempts have reported (a member that would only retry later is not waited for).
    """
    if resolution.result.ok or not isinstance(command, AllOf):
        return False
    for path, branch in branches_of(command):
        state = entry.leaves[path]
        if (
            isinstance(branch, StepCall)
            and state.outcome is None
            and state.dispatched
            and view.step_for(branch).compensate is not None
        ):
            return True
    return False


def _recorded_branches(entry: OpenEntry, outcomes: dict[str, LeafOutcome], used: frozenset[str]) -> list[str]:
    """The branches a closed ``all_of``/``any_of`` records: those its result used, and every step
    that completed.

    A step (or child run) that completed has had its effect even when the command did not use its value (an
    ``all_of`` that failed because another member failed, an ``any_of`` member finishing in the
    same pass as the winner): recording it lets a saga compensate it (:func:`.sagas.compensable`).
    Replay is unchanged: an ``all_of`` that failed resolves to its first failure whatever else
    succeeded, and an ``any_of`` to its recorded winner.
    """
    completed = {
        path
        for path, outcome in outcomes.items()
        if outcome.ok and entry.leaves[path].kind in (StepCall.kind, ChildRun.kind)
    }
    return sorted(used | completed)


def _combinator_entry(
    entry: OpenEntry,
    outcomes: dict[str, LeafOutcome],
    used: list[str],
    ok: bool,
    error: dict[str, Any] | None,
    winners: dict[str, int],
    finished: float,
) -> Entry:
    """The closed entry of an ``all_of``/``any_of``: the outcomes of the branches it used, and its winners."""
    branch_records = {}
    for path in used:
        state = entry.leaves[path]
        record = {"kind": state.kind, "name": state.name, **outcomes[path].to_dict()}
        if state.attempts:
            record["attempts"] = [a.to_dict() for a in state.attempts]
        if state.info:
            record["info"] = state.info
        branch_records[path] = record
    return Entry(
        entry.position,
        entry.kind,
        entry.name,
        ok,
        value=None,
        error=error,
        started=entry.started,
        finished=finished,
        leaves=branch_records,
        winners=winners,
    )
