"""The one table: which evaluator decides each kind of command.

:func:`evaluate` has one case per command type of :data:`~flowgen.commands.Command` and
:func:`evaluate_branch` one per type of :data:`~flowgen.commands.BranchCommand` (what a tree
branch can be). Both end in ``assert_never``, so a command type added to those unions without an
evaluator here is a type error (``mypy --strict flowgen``), not a run that fails in production.

:func:`decide` is what the advance loop calls when the run reaches a command (requested
cancellations and pauses, then the journal size, then the command's evaluator); after an action
that does not end the command, the loop calls :func:`evaluate` again. A failed workflow goes
through :func:`decide_failure`.
"""

from __future__ import annotations

from ..commands import (
    AllOf,
    AnyOf,
    BranchCommand,
    ChildRun,
    Command,
    Compensate,
    ContinueAsNew,
    DeterministicValue,
    Sleep,
    SleepUntil,
    StepCall,
    WaitForEvent,
)
from ..journal import LeafState
from ..patches import Patched
from . import branch_steps, children, control, markers, parallel, sagas, steps, waits
from ._typing import assert_never
from .actions import Action, BranchOutcome
from .view import RunView


def decide(view: RunView, position: int, command: Command) -> Action:
    """What to do now that the run is at ``command``: control requests first, then the command."""
    first = control.before(view, position, command)
    return first if first is not None else evaluate(view, position, command)


def evaluate(view: RunView, position: int, command: Command) -> Action:
    """Evaluate ``command`` at ``position`` with what the run knows now."""
    match command:
        case StepCall() if not (step := view.step_for(command)).queue:
            return steps.evaluate(view, position, command, step)
        case StepCall() | Sleep() | SleepUntil() | WaitForEvent() | ChildRun() | AllOf() | AnyOf():
            return parallel.evaluate(view, position, command, evaluate_branch)
        case DeterministicValue():
            return waits.deterministic(view, position, command)
        case Compensate():
            return sagas.compensate(view, position)
        case ContinueAsNew():
            return control.continue_as_new(view, command)
        case Patched():
            return markers.patch_marker(view, position, command)
        case _:
            assert_never(command)


def evaluate_branch(
    view: RunView, tree: parallel.TreePass, path: str, branch: BranchCommand, state: LeafState
) -> BranchOutcome:
    """Evaluate one branch of a tree pass (see :mod:`.parallel`)."""
    match branch:
        case StepCall():
            return branch_steps.evaluate(view, tree, path, branch, state)
        case Sleep():
            return waits.sleep(view, tree, path, branch, state)
        case SleepUntil():
            return waits.sleep_until(view, tree, path, branch, state)
        case WaitForEvent():
            return waits.event(view, tree, path, branch, state)
        case ChildRun():
            return children.evaluate(view, tree, path, branch, state)
        case _:
            assert_never(branch)


def decide_failure(view: RunView, position: int, error: BaseException) -> Action:
    """What to do now that the workflow raised ``error`` (its next position is ``position``)."""
    return sagas.after_failure(view, position, error)
