"""Child runs: ``child(...)`` (wait for its result) and ``start_child(...)`` (only its run id).

A child run is a branch of a tree (:mod:`.parallel`). Its run id is the one given, else
``<parent>/<position>[.<path>]`` (with ``g<n>/`` after the parent restarted or continued as new,
so a new generation never finds the children of the previous one). Creating it is idempotent on
that id: the evaluator asks the loop to create it (:class:`~.actions.StartChild`) and, told
what the store did (:attr:`~.view.RunView.started`), records its id, or fails the branch when
the id is taken by another workflow or other arguments. A waited-for child resolves the branch
when it finishes: with its output, or with :class:`~flowgen.errors.ChildWorkflowError`.

Arguments. ``child(wf, ...)`` with the workflow object binds them when the command is made
(:func:`flowgen.commands.child`). ``child("name", ...)`` cannot: the parent's code may not
import the child's. So the evaluator binds them before asking for the child, when this process
has the child's code registered (:func:`refusal`). A call that does not fit fails the branch
with the ``TypeError`` or ``SchemaError`` and creates no child; the failure is journaled in the
parent like any branch outcome, so replay reads it and never binds again (a process with other
code or no code cannot decide otherwise later). The check never changes what is stored: the
child's arguments are stored as given (schemas are converted when the child's worker calls
its code), so its fingerprint is the same whichever process started it. A process without the
child's code starts it unchecked; a call that does not fit then fails the child, with the
same message (:func:`flowgen.runtime.replay.replay`).
"""

from __future__ import annotations

from .. import slots
from ..commands import ChildRun
from ..decoding import run_error
from ..decorators import Workflow
from ..error_records import error_record
from ..errors import ChildWorkflowError, RunIdConflictError, RunPlacementError, SerializationError
from ..flow_start import declared_flow
from ..journal import LeafOutcome, LeafState
from ..schemas import SchemaError
from ..signatures import bind_call
from ..status import RunStatus
from ..stores.base import NewRun
from ..versions import code_version
from .actions import BranchOutcome, StartChild
from .entries import slot as slot_of
from .parallel import TreePass
from .settings import encode_new_call
from .view import RunView


def child_id(parent: str, generation: int, position: int, path: str) -> str:
    """The default id of a child run: ``<parent>/<pos>[.<path>]``, with ``g<n>/`` after a restart.

    The generation (the parent's) keeps a restarted (or continued-as-new) parent from finding
    the child runs of its previous generation at the same positions.
    """
    prefix = f"{parent}/g{generation}/" if generation else f"{parent}/"
    return prefix + str(position) + (f".{path}" if path else "")


def refusal(command: ChildRun, code: Workflow | None) -> TypeError | SchemaError | None:
    """Why a child named by a string cannot take its arguments, if this process knows its ``code``.

    Only binds (the converted values are dropped): see the module docstring for why.
    """
    if command.workflow is not None or code is None:
        return None  # bound when the command was made, or no code to bind to
    try:
        bind_call(code, command.args, command.kwargs)
    except (TypeError, SchemaError) as error:
        return error
    return None


def evaluate(view: RunView, tree: TreePass, path: str, command: ChildRun, state: LeafState) -> BranchOutcome:
    """Evaluate the child-run branch ``command`` at ``path`` (see the module docstring)."""
    if state.child is None:
        run_id = command.run_id or child_id(view.run_id, view.run_record.generation, tree.position, path)
        started = view.started.get(run_id)
        if started is None:
            code = command.workflow or view.workflow_for(command.workflow_name)
            refused = refusal(command, code)
            if refused is not None:
                return LeafOutcome(False, error=error_record(refused, ""), finished=view.now)
            try:
                args, print_ = encode_new_call(
                    view.serializer,
                    run_id,
                    command.workflow_name,
                    command.args,
                    command.kwargs,
                    code_version(view.settings.version, code),
                )
            except SerializationError as error:
                return LeafOutcome(False, error=error_record(error, ""), finished=view.now)
            try:
                flow = declared_flow(command.workflow_name, command.args, command.kwargs, view.now)
            except (ValueError, TypeError) as error:  # a key function that raises or returns a non-str
                return LeafOutcome(False, error=error_record(error, ""), finished=view.now)
            new = NewRun(
                run_id,
                command.workflow_name,
                args,
                print_,
                view.now,
                parent=view.run_id if command.wait else None,
                flow=flow,
            )
            tree.starts.append(StartChild(new, read_back=command.wait))
            return None
        if started.refused:
            placement = RunPlacementError(started.refused)
            return LeafOutcome(False, error=error_record(placement, ""), finished=view.now)
        if started.conflicts:
            conflict = RunIdConflictError(
                f"child run id {run_id!r} is already used by a run of {started.record.workflow!r} with other arguments"
            )
            return LeafOutcome(False, error=error_record(conflict, ""), finished=view.now)
        state.child = run_id
    if not command.wait:
        text = view.serializer.encode(
            state.child, run_id=view.run_id, slot=slot_of(view, tree.position, path), what="a child run id"
        )
        return LeafOutcome(True, value=text, finished=view.now)
    child = view.children.get(state.child)
    if child is None or not child.is_finished:
        tree.internal = True
        return None
    finished = child.finished or view.now
    slot = slot_of(view, tree.position, path)
    if child.status == RunStatus.COMPLETED:
        value = view.serializer.decode(child.output, run_id=child.run_id, slot=slots.output(child.generation))
        text = view.serializer.encode(
            value, run_id=view.run_id, slot=slot, what=f"the result of child run {child.run_id!r}"
        )
        return LeafOutcome(True, value=text, finished=finished)
    cause = run_error(view.serializer, child)
    failure = ChildWorkflowError(
        f"child run {child.run_id!r} of {child.workflow!r} ended {child.status}: {cause}"
    )
    failure.__cause__ = cause
    return LeafOutcome(False, error=error_record(failure, ""), finished=finished)
