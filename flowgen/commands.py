"""The commands a workflow yields: frozen values that describe what to do, never doing it.

A workflow is a generator that yields these and receives their results back from ``yield``.
Each command has a ``kind`` and a ``name``; the journal records both at the command's yield
position and replay compares them (:class:`~flowgen.errors.NonDeterminismError` on a mismatch).
This module imports neither ``redis`` nor ``dramatiq``.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast, overload
from uuid import UUID

import attrs
from typing_extensions import ParamSpec, TypeVar

from .durations import Duration, parse_duration, parse_timestamp
from .errors import WorkflowYieldError
from .names import check_event_type, check_run_id, check_workflow_name
from .patches import Patched
from .schemas import check_schema
from .yieldable import Yieldable

if TYPE_CHECKING:
    from .decorators import Workflow

P = ParamSpec("P")
R = TypeVar("R", default=Any)
T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")


def _freeze_kwargs(value: Any) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen
class StepCall(Yieldable[R]):
    """Run a step with these arguments; the step's return value is sent back into the workflow.

    Two calls compare equal when they name the same step with equal arguments, so a test can
    write ``assert next(gen) == fetch_user("u1")``.
    """

    kind: ClassVar[str] = "step"
    step_name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_kwargs)
    step: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def name(self) -> str:
        """The name journaled for this command (compared on replay)."""
        return self.step_name

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        return f"step {self.step_name!r}"


@attrs.frozen
class Sleep(Yieldable[None]):
    """Park the run for ``seconds``; the due time is fixed when the run first reaches it."""

    kind: ClassVar[str] = "sleep"
    name: ClassVar[str] = "sleep"
    seconds: float

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        return f"sleep({self.seconds:g}s)"


@attrs.frozen
class SleepUntil(Yieldable[None]):
    """Park the run until the Unix timestamp ``timestamp``."""

    kind: ClassVar[str] = "sleep"
    name: ClassVar[str] = "sleep_until"
    timestamp: float

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        return f"sleep_until({self.timestamp:.3f})"


@attrs.frozen
class WaitForEvent(Yieldable[R]):
    """Park the run until an event of ``type`` is in its inbox; its payload is the result.

    With a ``schema`` the payload is validated and converted to it when the run receives it
    (a payload that does not fit raises ``SchemaError`` into the workflow at this ``yield``).
    """

    kind: ClassVar[str] = "event"
    type: str
    timeout: float | None = None
    schema: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def name(self) -> str:
        """The name journaled for this command (compared on replay)."""
        return self.type

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        return f"wait_for_event({self.type!r})"


@attrs.frozen
class ChildRun(Yieldable[R]):
    """Start a child run of ``workflow_name``; wait for its result unless ``wait`` is false."""

    kind: ClassVar[str] = "child"
    workflow_name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_kwargs)
    run_id: str | None = None
    wait: bool = True
    workflow: Any = attrs.field(default=None, eq=False, repr=False)
    """The ``@flowgen.workflow`` when the call named one (its code version is looked up from it)."""
    compensate: bool = True
    """Whether a saga compensation of the parent also compensates this child once it completed
    (see :mod:`flowgen.runtime.child_sagas`)."""

    @property
    def name(self) -> str:
        """The name journaled for this command (compared on replay)."""
        return self.workflow_name

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        verb = "child" if self.wait else "start_child"
        return f"{verb}({self.workflow_name!r})"


@attrs.frozen
class DeterministicValue(Yieldable[R]):
    """Produce a value once (the time, a UUID, a random float) and journal it for replay."""

    kind: ClassVar[str] = "value"
    name: str

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        return f"{self.name}()"


@attrs.frozen
class ContinueAsNew(Yieldable[None]):
    """End this journal and start the same run id over with new arguments."""

    kind: ClassVar[str] = "continue_as_new"
    name: ClassVar[str] = "continue_as_new"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_kwargs)

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        return "continue_as_new()"


@attrs.frozen
class Compensate(Yieldable[None]):
    """Run the compensations of the completed steps now, in reverse order."""

    kind: ClassVar[str] = "compensate"
    name: ClassVar[str] = "compensate"

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        return "compensate()"


BranchCommand = StepCall | Sleep | SleepUntil | WaitForEvent | ChildRun
"""Commands that can be a branch of ``all_of`` / ``any_of`` (a member that is not itself one)."""

BRANCH_TYPES: tuple[type, ...] = (StepCall, Sleep, SleepUntil, WaitForEvent, ChildRun)


def _check_members(commands: tuple[Any, ...]) -> tuple[Any, ...]:
    for index, command in enumerate(commands):
        if isinstance(command, (AllOf, AnyOf)):
            continue
        if not isinstance(command, BRANCH_TYPES):
            raise WorkflowYieldError(
                f"all_of/any_of member {index} is {command!r}; members must be step calls, sleeps, "
                "wait_for_event, child runs or nested all_of/any_of"
            )
        if isinstance(command, ChildRun) and not command.wait:
            raise WorkflowYieldError(
                f"all_of/any_of member {index} is start_child(...), which does not wait; use child(...)"
            )
    return commands


@attrs.frozen
class AllOf(Yieldable[R]):
    """Wait for every member; the result is the list of their values in declared order.

    ``yield from all_of(a, b)`` returns them as a tuple, typed member by member.
    """

    kind: ClassVar[str] = "all_of"
    commands: tuple[Any, ...] = attrs.field(converter=tuple, validator=lambda _s, _a, v: _check_members(v))

    def __iter__(self) -> Generator[Any, Any, R]:
        result = yield self
        return cast(R, tuple(result))

    @property
    def name(self) -> str:
        """The name journaled for this command (compared on replay)."""
        return signature_of(self)

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        return self.name


@attrs.frozen
class AnyOf(Yieldable[R]):
    """Wait for the first member to finish; the result is ``(index, value)``."""

    kind: ClassVar[str] = "any_of"
    commands: tuple[Any, ...] = attrs.field(converter=tuple, validator=lambda _s, _a, v: _check_members(v))

    @property
    def name(self) -> str:
        """The name journaled for this command (compared on replay)."""
        return signature_of(self)

    def describe(self) -> str:
        """How messages and non-determinism errors name this command."""
        return self.name


Command = (
    StepCall
    | Sleep
    | SleepUntil
    | WaitForEvent
    | ChildRun
    | DeterministicValue
    | ContinueAsNew
    | Compensate
    | AllOf
    | AnyOf
    | Patched
)
COMMAND_TYPES: tuple[type, ...] = (
    *BRANCH_TYPES,
    DeterministicValue,
    ContinueAsNew,
    Compensate,
    AllOf,
    AnyOf,
    Patched,
)


def signature_of(command: Any) -> str:
    """Return the ``kind:name`` text replay compares; combinators include their members."""
    if isinstance(command, (AllOf, AnyOf)):
        inner = ", ".join(signature_of(member) for member in command.commands)
        return f"{command.kind}({inner})"
    return f"{command.kind}:{command.name}"


def branches_of(command: Any, prefix: str = "") -> list[tuple[str, BranchCommand]]:
    """Return ``(path, branch)`` for every branch of a command; a plain command is its own branch ``""``.

    A **branch** is a member of an ``all_of``/``any_of`` that is not itself one; its **path**
    names it by index: ``"0"``, ``"1"``, and ``"2.0"`` for the first member of a nested
    combinator at index 2. Paths key the per-branch state of an open journal entry.
    """
    if not isinstance(command, (AllOf, AnyOf)):
        return [(prefix, command)]
    found: list[tuple[str, BranchCommand]] = []
    for index, member in enumerate(command.commands):
        found.extend(branches_of(member, member_path(prefix, index)))
    return found


def member_path(prefix: str, index: int) -> str:
    """The path of member ``index`` of the combinator at path ``prefix`` (``""`` for the top)."""
    return f"{prefix}.{index}" if prefix else str(index)


# -- constructors: the names workflows use -------------------------------------------------------


def sleep(duration: Duration) -> Sleep:
    """Park the run for ``duration`` (timedelta, seconds, or text such as ``"10 minutes"``)."""
    return Sleep(parse_duration(duration, what="sleep duration"))


def sleep_until(when: Any) -> SleepUntil:
    """Park the run until ``when``: a timezone-aware datetime or a Unix timestamp."""
    return SleepUntil(parse_timestamp(when))


@overload
def wait_for_event(type: str, timeout: Duration | None = None) -> WaitForEvent[Any]: ...
@overload
def wait_for_event(type: str, timeout: Duration | None = None, *, schema: type[T]) -> WaitForEvent[T]: ...


def wait_for_event(type: str, timeout: Duration | None = None, *, schema: Any = None) -> WaitForEvent[Any]:
    """Wait for an event of ``type``; raise ``EventTimeoutError`` into the workflow on timeout.

    ``schema``: a pydantic model, dataclass or attrs class the payload is validated against and
    converted to (``SchemaError`` into the workflow when it does not fit).
    """
    check_event_type(type)
    seconds = None if timeout is None else parse_duration(timeout, what="event timeout")
    if schema is not None:
        check_schema(schema, what=f"wait_for_event({type!r}, schema=...)")
    return WaitForEvent(type, seconds, schema)


@overload
def all_of(a: Yieldable[T1], /) -> AllOf[tuple[T1]]: ...
@overload
def all_of(a: Yieldable[T1], b: Yieldable[T2], /) -> AllOf[tuple[T1, T2]]: ...
@overload
def all_of(a: Yieldable[T1], b: Yieldable[T2], c: Yieldable[T3], /) -> AllOf[tuple[T1, T2, T3]]: ...
@overload
def all_of(
    a: Yieldable[T1], b: Yieldable[T2], c: Yieldable[T3], d: Yieldable[T4], /
) -> AllOf[tuple[T1, T2, T3, T4]]: ...
@overload
def all_of(
    a: Yieldable[T1], b: Yieldable[T2], c: Yieldable[T3], d: Yieldable[T4], e: Yieldable[T5], /
) -> AllOf[tuple[T1, T2, T3, T4, T5]]: ...
@overload
def all_of(
    a: Yieldable[T1],
    b: Yieldable[T2],
    c: Yieldable[T3],
    d: Yieldable[T4],
    e: Yieldable[T5],
    f: Yieldable[T6],
    /,
) -> AllOf[tuple[T1, T2, T3, T4, T5, T6]]: ...
@overload
def all_of(*commands: Yieldable[Any]) -> AllOf[tuple[Any, ...]]: ...


def all_of(*commands: Any) -> AllOf[Any]:
    """Run the commands concurrently; the result is the list of their values in declared order.

    ``yield from all_of(a, b)`` gives a tuple typed member by member (up to six members).
    """
    if not commands:
        raise ValueError("all_of() needs at least one command")
    return AllOf(commands)


def any_of(*commands: Yieldable[Any]) -> AnyOf[tuple[int, Any]]:
    """Race the commands; the result is ``(index, value)`` of the first to finish."""
    if not commands:
        raise ValueError("any_of() needs at least one command")
    return AnyOf(cast(Any, commands))


def now() -> DeterministicValue[datetime]:
    """Yield to get the current time as an aware UTC datetime, journaled for replay."""
    return DeterministicValue("now")


def uuid4() -> DeterministicValue[UUID]:
    """Yield to get a random UUID, journaled for replay."""
    return DeterministicValue("uuid4")


def random() -> DeterministicValue[float]:
    """Yield to get a random float in [0, 1), journaled for replay."""
    return DeterministicValue("random")


def continue_as_new(*args: Any, **kwargs: Any) -> ContinueAsNew:
    """End this journal and continue the same run id with new arguments."""
    return ContinueAsNew(args, kwargs)


def compensate() -> Compensate:
    """Run the compensations of the steps completed so far, in reverse order."""
    return Compensate()


def _workflow_name(workflow: Any) -> str:
    name = getattr(workflow, "name", workflow)
    if not isinstance(name, str):
        raise TypeError(f"expected a @flowgen.workflow or a workflow name, got {workflow!r}")
    return check_workflow_name(name)


def _child_run_id(run_id: str | None) -> str | None:
    return None if run_id is None else check_run_id(run_id)


def _compensate_flag(compensate: Any, default: bool) -> bool:
    if compensate is None:
        return default
    if not isinstance(compensate, bool):
        raise TypeError(f"compensate= must be True or False, got {compensate!r}")
    return compensate


def _declared(workflow: Any) -> Any:
    return None if isinstance(workflow, str) else workflow


def _child_call(
    workflow: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """The child's workflow name and its arguments, bound to its signature when the code is known."""
    from .signatures import bind_call

    if hasattr(workflow, "fn"):
        args, kwargs = bind_call(workflow, args, kwargs)
    return _workflow_name(workflow), args, kwargs


@overload
def child(workflow: Workflow[P, R], *args: P.args, **kwargs: P.kwargs) -> ChildRun[R]: ...
@overload
def child(workflow: str, *args: Any, **kwargs: Any) -> ChildRun[Any]: ...


def child(workflow: Any, *args: Any, **kwargs: Any) -> ChildRun[Any]:
    """Start a child run and wait for its result (``ChildWorkflowError`` if it fails).

    ``run_id=`` (a keyword) names the child run; every other argument is the child's. With a
    ``@flowgen.workflow`` the arguments are bound to its signature now (``TypeError`` naming the
    parameter when they do not fit); with a name, when the worker is about to create the child,
    if it has that workflow's code (:func:`flowgen.runtime.children.refusal`). A saga
    compensation of the parent compensates the child too once it completed, unless
    ``compensate=False`` (a keyword; docs/control.md, "Saga compensation").
    """
    run_id = kwargs.pop("run_id", None)
    compensate = _compensate_flag(kwargs.pop("compensate", None), True)
    name, args, kwargs = _child_call(workflow, args, kwargs)
    return ChildRun(
        name, args, kwargs, _child_run_id(run_id), True, _declared(workflow), compensate=compensate
    )


@overload
def start_child(workflow: Workflow[P, R], *args: P.args, **kwargs: P.kwargs) -> ChildRun[str]: ...
@overload
def start_child(workflow: str, *args: Any, **kwargs: Any) -> ChildRun[str]: ...


def start_child(workflow: Any, *args: Any, **kwargs: Any) -> ChildRun[str]:
    """Start a child run without waiting; the result sent back is the child's run id.

    ``run_id=`` names the child run, as for :func:`child`. Such a child is independent: the
    parent's saga compensation leaves it alone unless ``compensate=True`` (then it is compensated
    if it has completed by the time the parent's compensation starts).
    """
    run_id = kwargs.pop("run_id", None)
    compensate = _compensate_flag(kwargs.pop("compensate", None), False)
    name, args, kwargs = _child_call(workflow, args, kwargs)
    return ChildRun(
        name, args, kwargs, _child_run_id(run_id), False, _declared(workflow), compensate=compensate
    )
