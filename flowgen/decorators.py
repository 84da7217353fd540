"""``@flowgen.step``, ``@flowgen.workflow``, the ``Retry`` policy and the registry of names.

Runs name their workflow by a stable string, and parallel step messages name their step, so
workers find the code through :data:`registry`. Decorating registers; registering a different
function under a name that is taken raises :class:`~flowgen.errors.RegistrationError`.
"""

from __future__ import annotations

import functools
import inspect
import random as _random
import sys
from collections.abc import Callable, Coroutine, Generator, Iterable
from typing import Any, Generic, Literal, Protocol, overload

import attrs
from typing_extensions import ParamSpec, TypeVar

from .allowlist import allow_module
from .commands import StepCall
from .durations import Duration, parse_duration
from .errors import RegistrationError, StepNotFoundError, WorkflowNotFoundError
from .limits import Limit, RateLimit, as_limits, as_rate_limit, check_priority, run_timeout
from .names import check_queue_name, check_step_name, check_workflow_name
from .schemas import Signature, convert, signature_of
from .signatures import bind_call, convert_arguments

Backoff = Literal["constant", "linear", "exponential"]


def _seconds(value: Duration) -> float:
    return parse_duration(value, what="retry delay")


def _check_limit(_instance: Any, _attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"Retry(limit={value!r}): the number of retries must be an int >= 0")


def _check_backoff(_instance: Any, _attribute: Any, value: str) -> None:
    if value not in ("constant", "linear", "exponential"):
        raise ValueError(f"Retry(backoff={value!r}): use 'constant', 'linear' or 'exponential'")


def _check_jitter(_instance: Any, _attribute: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Retry(jitter={value!r}): jitter is a fraction between 0 and 1")


@attrs.frozen
class Retry:
    """How a failing step is retried.

    Args:
        limit: retries after the first attempt (``limit=3`` allows 4 attempts in all).
        delay: the base wait before the first retry.
        backoff: ``"constant"`` waits ``delay`` each time, ``"linear"`` waits ``delay * n`` before
            retry ``n``, ``"exponential"`` waits ``delay * 2 ** (n - 1)``.
        max_delay: the longest wait, whatever the backoff says.
        jitter: a fraction; each wait is multiplied by a random factor in ``[1 - jitter, 1]`` so
            that many failing runs do not retry in lockstep.

    The wait between attempts is a durable timer: no worker thread sleeps through it.
    """

    limit: int = attrs.field(default=3, validator=_check_limit)
    delay: float = attrs.field(default=1.0, converter=_seconds)
    backoff: Backoff = attrs.field(default="exponential", validator=_check_backoff)
    max_delay: float = attrs.field(default=60.0, converter=_seconds)
    jitter: float = attrs.field(default=0.1, converter=float, validator=_check_jitter)

    def base_delay(self, retry_number: int) -> float:
        """Return the wait before retry ``retry_number`` (1 for the first retry), without jitter."""
        if self.backoff == "constant":
            wait = self.delay
        elif self.backoff == "linear":
            wait = self.delay * retry_number
        else:
            wait = self.delay * (2 ** min(retry_number - 1, 64))
        return min(wait, self.max_delay)

    def delay_before(self, retry_number: int, rng: _random.Random | None = None) -> float:
        """Return the jittered wait before retry ``retry_number``."""
        wait = self.base_delay(retry_number)
        if self.jitter:
            wait *= 1.0 - (rng or _random).random() * self.jitter
        return wait


DEFAULT_RETRY = Retry()
"""The policy of a step declared without ``retries``: 3 retries, exponential from 1 s, at most 60 s."""

NO_RETRY = Retry(limit=0)

P = ParamSpec("P", default=...)
R = TypeVar("R", default=Any)


def _as_retry(value: Retry | int | None) -> Retry:
    if value is None:
        return DEFAULT_RETRY
    if isinstance(value, Retry):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Retry(limit=value)
    raise TypeError(f"retries must be a flowgen.Retry or an int number of retries, got {value!r}")


def _is_async(fn: Callable[..., Any]) -> bool:
    """True for an ``async def`` (a coroutine or async generator function), even behind a decorator."""
    target = inspect.unwrap(fn)
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _qualname(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", None) or repr(fn))


def _default_name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", None) or fn.__name__)


def _importing(fn: Callable[..., Any]) -> bool:
    """Whether the module defining ``fn`` is still being imported (names may be defined later)."""
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


class _Declared:
    """What steps and workflows share: their name, signature and schemas (:mod:`flowgen.schemas`)."""

    name: str
    fn: Callable[..., Any]
    _interface: Signature

    def _read_interface(self, what: str, *, retry: bool = True) -> None:
        self._what = what
        self._interface = signature_of(self.fn, what=f"{what} {self.name!r}", retry=retry)

    @property
    def interface(self) -> Signature:
        """The signature and schema annotations (read again once if a name was not defined yet)."""
        if not self._interface.resolved:
            # Read again; for good once the module that defines the function is imported.
            self._read_interface(self._what, retry=_importing(self.fn))
        return self._interface


class Step(_Declared, Generic[P, R]):
    """A function that does side effects; calling the step builds a :class:`StepCall` command.

    The original function stays reachable as ``step.fn`` so it can be unit-tested directly.
    ``Step[P, R]`` keeps the function's signature for type checkers: a call with wrong
    arguments is a type error, and ``yield from step(...)`` gives an ``R``. At run time the
    call is bound to the signature (``TypeError`` in the workflow if it does not fit) and
    arguments annotated with a schema are converted; a result annotated with one is validated
    when the step returns (a result that does not fit fails the step without retries).
    """

    fn: Callable[P, R]

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        retries: Retry | int | None = None,
        timeout: Duration | None = None,
        queue: str | None = None,
        no_retry_on: Iterable[type[BaseException]] = (),
        compensate: Step | None = None,
        crash_limit: int = 3,
        concurrency: Limit | list[Limit] | tuple[Limit, ...] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        if inspect.isgeneratorfunction(fn):
            raise TypeError(
                f"@flowgen.step cannot decorate the generator function {fn.__qualname__}; "
                "did you mean @flowgen.workflow?"
            )
        if inspect.isasyncgenfunction(inspect.unwrap(fn)):
            raise TypeError(
                f"@flowgen.step cannot decorate the async generator function {_qualname(fn)}; a step "
                "returns one value: declare it with async def and return instead of yield"
            )
        if compensate is not None and not isinstance(compensate, Step):
            raise TypeError(f"compensate must be a @flowgen.step, got {compensate!r}")
        if isinstance(crash_limit, bool) or not isinstance(crash_limit, int) or crash_limit < 1:
            raise ValueError(f"crash_limit must be an int >= 1, got {crash_limit!r}")
        self.fn = fn
        self.name = check_step_name(_default_name(fn) if name is None else name)
        self.retries = _as_retry(retries)
        self.timeout = None if timeout is None else parse_duration(timeout, what="step timeout")
        self.queue = None if queue is None else check_queue_name(queue)
        self.no_retry_on = tuple(no_retry_on)
        self.compensate = compensate
        self.crash_limit = crash_limit
        self.is_async = _is_async(fn)
        """An ``async def`` step: it runs on the worker process's step loop (docs/asyncio.md)."""
        self.concurrency = as_limits(concurrency, f"@flowgen.step {self.name!r}")
        self.rate_limit = as_rate_limit(rate_limit, f"@flowgen.step {self.name!r}")
        functools.update_wrapper(self, fn)
        self._read_interface("step")

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> StepCall[R]:
        bound_args, bound_kwargs = bind_call(self, args, kwargs, what="step")
        return StepCall(self.name, bound_args, bound_kwargs, step=self)

    def check_result(self, value: Any) -> Any:
        """Return the step's result converted to its return schema (``SchemaError`` if it does not fit)."""
        schema = self.interface.result
        if schema is None:
            return value
        return convert(schema, value, f"the result of step {self.name!r}")

    def __repr__(self) -> str:
        return f"<flowgen.step {self.name}>"


class Workflow(_Declared, Generic[P, R]):
    """A generator function that yields commands; calling it returns its generator.

    ``Workflow[P, R]`` keeps the function's parameters ``P`` and its return type ``R`` for type
    checkers: ``engine.start(wf, ...)`` checks the arguments and its ``Run[R].result()`` is an ``R``.
    """

    fn: Callable[P, Generator[Any, Any, R]]

    def __init__(
        self,
        fn: Callable[P, Generator[Any, Any, R]],
        *,
        name: str | None = None,
        concurrency: Limit | list[Limit] | tuple[Limit, ...] | None = None,
        timeout: Duration | None = None,
        priority: int = 0,
    ) -> None:
        if _is_async(fn):
            raise TypeError(
                f"@flowgen.workflow cannot decorate {_qualname(fn)}: it is an async def, and a workflow "
                "must be a plain def generator that yields commands (replay re-runs it, so it does no "
                "I/O itself). Put the awaiting code in an async def @flowgen.step and yield a call to "
                "it from the workflow: `result = yield fetch_rate(...)` (see docs/asyncio.md)"
            )
        if not inspect.isgeneratorfunction(fn):
            raise TypeError(
                f"@flowgen.workflow needs a generator function (one that yields commands); "
                f"{getattr(fn, '__qualname__', fn)!r} is not one. A function that does the work itself "
                "(sync or async def) is a @flowgen.step, called from a workflow with `yield`"
            )
        self.fn = fn
        self.name = check_workflow_name(_default_name(fn) if name is None else name)
        self.concurrency = as_limits(concurrency, f"@flowgen.workflow {self.name!r}")
        self.timeout = run_timeout(timeout, f"@flowgen.workflow {self.name!r} timeout")
        self.priority = check_priority(priority)
        functools.update_wrapper(self, fn)
        self._read_interface("workflow")

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, R]:
        """Return the workflow's generator; arguments annotated with a schema are converted first."""
        if self.interface.parameters:
            converted, converted_kwargs = convert_arguments(self, tuple(args), dict(kwargs))
            return self.fn(*converted, **converted_kwargs)
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<flowgen.workflow {self.name}>"


class Registry:
    """Maps stable names to workflows and steps."""

    def __init__(self) -> None:
        self.workflows: dict[str, Workflow] = {}
        self.steps: dict[str, Step] = {}

    def add_workflow(self, workflow: Workflow) -> Workflow:
        """Register ``workflow`` under its name (``RegistrationError`` if another has it)."""
        self._add(self.workflows, workflow, "workflow")
        return workflow

    def add_step(self, step: Step) -> Step:
        """Register ``step`` under its name (``RegistrationError`` if another has it)."""
        self._add(self.steps, step, "step")
        return step

    @staticmethod
    def _add(table: dict[str, Any], item: Workflow | Step, what: str) -> None:
        existing = table.get(item.name)
        if existing is not None and not _same_definition(existing.fn, item.fn):
            raise RegistrationError(
                f"two different {what}s are registered under the name {item.name!r}: "
                f"{_where(existing.fn)} and {_where(item.fn)}; give one of them another name with "
                f"@flowgen.{what}(name=...)"
            )
        table[item.name] = item
        # Its module's enums, dataclasses and exceptions may be named by journal values.
        allow_module(getattr(item.fn, "__module__", "") or "")

    def workflow(self, name: str) -> Workflow:
        """Return the workflow registered as ``name``."""
        try:
            return self.workflows[name]
        except KeyError:
            raise WorkflowNotFoundError(
                f"no workflow named {name!r} is registered in this process; import the module that "
                f"defines it (for a worker: `flowgen worker that.module`). Known: {sorted(self.workflows)}"
            ) from None

    def step(self, name: str) -> Step:
        """Return the step registered as ``name``."""
        try:
            return self.steps[name]
        except KeyError:
            raise StepNotFoundError(
                f"no step named {name!r} is registered in this process; import the module that "
                "defines it in the worker"
            ) from None


def _same_definition(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """Treat a re-definition at the same place (a module imported twice, a reload) as the same."""
    if a is b:
        return True
    return bool(
        getattr(a, "__module__", None) == getattr(b, "__module__", None)
        and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
    )


def _where(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


registry = Registry()
"""The process-wide registry the decorators register into."""


class _StepDecorator(Protocol):
    """What ``@flowgen.step(...)`` with options returns: an ``async def`` gives a ``Step`` of
    the awaited result, as a plain ``def`` gives one of its result."""

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Step[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(fn: Callable[P, Coroutine[Any, Any, R]]) -> Step[P, R]: ...
@overload
def step(fn: Callable[P, R]) -> Step[P, R]: ...
@overload
def step(
    fn: None = None,
    *,
    name: str | None = None,
    retries: Retry | int | None = None,
    timeout: Duration | None = None,
    queue: str | None = None,
    no_retry_on: Iterable[type[BaseException]] = (),
    compensate: Step | None = None,
    crash_limit: int = 3,
    concurrency: Limit | list[Limit] | tuple[Limit, ...] | None = None,
    rate_limit: RateLimit | None = None,
) -> _StepDecorator: ...


def step(fn: Any = None, **options: Any) -> Any:
    """Declare a step: ``@flowgen.step`` or ``@flowgen.step(retries=..., timeout=..., ...)``.

    Args:
        name: the stable name (default: the function's qualified name).
        retries: a :class:`Retry` or an int number of retries (default :data:`DEFAULT_RETRY`).
        timeout: the longest one attempt may run before ``StepTimeoutError`` interrupts it.
        queue: run this step as its own message on this Dramatiq queue.
        no_retry_on: exception types that fail the step at once, without retries.
        compensate: a step that undoes this one, run by saga compensation.
        crash_limit: how many times a worker may die during this step before it fails with
            ``StepCrashedError``.
        concurrency: a :class:`~flowgen.Limit` (or a list) on attempts executing at once, across
            all workers; an attempt over it parks its run until a slot is free.
        rate_limit: a :class:`~flowgen.RateLimit` on attempts starting per period; an attempt
            over it is delayed (no retry spent).
    """

    def decorate(function: Callable[..., Any]) -> Step:
        return registry.add_step(Step(function, **options))

    return decorate(fn) if fn is not None else decorate


@overload
def workflow(fn: Callable[P, Generator[Any, Any, R]]) -> Workflow[P, R]: ...
@overload
def workflow(
    fn: None = None,
    *,
    name: str | None = None,
    concurrency: Limit | list[Limit] | tuple[Limit, ...] | None = None,
    timeout: Duration | None = None,
    priority: int = 0,
) -> Callable[[Callable[P, Generator[Any, Any, R]]], Workflow[P, R]]: ...


def workflow(fn: Any = None, **options: Any) -> Any:
    """Declare a workflow: ``@flowgen.workflow`` or ``@flowgen.workflow(name="orders.v2", ...)``.

    Args:
        name: the stable name (default: the function's qualified name).
        concurrency: a :class:`~flowgen.Limit` (or a list) on runs in progress at once.
        timeout: the run's deadline from its start: ``RunTimeoutError`` is raised into it then.
        priority: the default ``priority=`` of its runs (0 to 100; docs/flow-control.md).
    """

    def decorate(function: Callable[..., Any]) -> Workflow:
        return registry.add_workflow(Workflow(function, **options))

    return decorate(fn) if fn is not None else decorate
