"""The synchronous test runner: production orchestration, in-memory store, virtual time, no threads.

:class:`Runner` builds a real :class:`~flowgen.Engine` over a
:class:`~flowgen.stores.memory.MemoryStore`, a :class:`~.clock.RunnerClock` and an
:class:`~flowgen.transports.inline.InlineTransport`. The transport does not hand "advance run X"
and "run attempt N of branch K" messages to worker threads: it queues them in a deque, and the
runner processes that deque in the calling thread until it is empty. Every decision along the way (replay, step attempts and retries,
timers, event inboxes, ``all_of``/``any_of``, child runs) is taken by the same
:class:`~flowgen.runtime.Runtime` code that advances runs on a worker, so what passes here is what
runs in production, not a second implementation of it.

Time only moves when the test says so. :meth:`Runner.advance` walks the virtual clock from timer
to timer (each sleep, retry back-off and event timeout fires at its own due time, in order), so
a workflow that sleeps for 30 days finishes in milliseconds. Under ``freezegun.freeze_time`` the
clock *is* freezegun's frozen time, and ``advance()`` moves freezegun's time along with it.

Step bodies are called through the runtime's ``invoker`` hook, which is where
:meth:`Runner.mock` substitutes return values, exceptions and side effects and where every call,
mocked or real, is recorded for :meth:`Runner.calls`.

The pieces live beside this module: :mod:`.clock` (virtual time), :mod:`.mocks` (mocks and
calls), :mod:`.handles` (:class:`~.handles.RunnerRun`), :mod:`.blocked` (what blocked runs wait
for), :mod:`.errors`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, TypeVar, overload

from typing_extensions import ParamSpec

from ..client import RunInfo
from ..context import step_context
from ..decorators import Registry, Step, Workflow
from ..decorators import registry as default_registry
from ..durations import Duration, parse_duration, parse_timestamp
from ..engine import Engine
from ..schedules import Schedules
from ..serialization import DEFAULT_MAX_PAYLOAD_BYTES
from ..steps import call_step_function
from ..stores.memory import MemoryStore
from ..transports.inline import InlineTransport, MessageLimitError
from ..versions import check_version
from .blocked import WaitDescriber
from .clock import RunnerClock, utc_at_or_after
from .errors import RunnerError
from .handles import RunnerRun
from .mocks import Call, StepMock, is_exception, step_name

__all__ = ["Runner"]

R = TypeVar("R")
P = ParamSpec("P")

_TIMER_BATCH = 1000
_MAX_TIMER_ROUNDS = 100_000
_TIME_EPSILON = 1e-6
_UNSET: Any = object()


class _ErrorCollector(logging.Handler):
    """Collect the errors the runtime logs (and would retry on a worker) while the runner works."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Runner:
    """Run workflows in this thread over an in-memory store, with virtual time and mockable steps.

    Args:
        registry: where workflows and steps are looked up (default: the global registry).
        start: the virtual time to start at: an aware datetime or a Unix timestamp (default:
            now, or freezegun's frozen time while a ``freeze_time`` is active).
        seed: seeds the random source behind retry jitter and ``flowgen.random()``, so runs
            are reproducible.
        replay: when true (the default), every resume replays the run's journal from the
            start, as on a worker that did not park the run itself, so a workflow whose code is
            not deterministic fails with ``NonDeterminismError`` in the test instead of in
            production. False keeps parked generators in memory as a worker's cache does
            (for runs that resume soon), which hides such bugs.
        serializer / secret_key / max_payload_bytes / journal_warn / journal_limit: as for
            :class:`flowgen.Engine`.

    Use it as a context manager, or call :meth:`close`, to drop its state.
    """

    def __init__(
        self,
        *,
        registry: Registry | None = None,
        start: float | datetime | None = None,
        seed: int | None = 0,
        replay: bool = True,
        serializer: str = "json",
        secret_key: bytes | str | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        journal_warn: int = 2000,
        journal_limit: int = 10000,
        version: str | None = None,
    ) -> None:
        self.clock = RunnerClock(start)
        self.store = MemoryStore()
        self.transport = InlineTransport()
        self.engine = Engine(
            store=self.store,
            transport=self.transport,
            clock=self.clock,
            registry=registry or default_registry,
            start_workers=False,
            serializer=serializer,
            secret_key=secret_key,
            max_payload_bytes=max_payload_bytes,
            journal_warn=journal_warn,
            journal_limit=journal_limit,
            cache_size=0 if replay else 256,
            url="memory://runner",
            version=version,
        )
        self.runtime = self.engine.runtime
        self.runtime.invoker = self._invoke
        self.runtime.rng = random.Random(seed)
        self.waits = WaitDescriber(self.store, self.clock)
        self._mocks: dict[str, StepMock] = {}
        self._calls: list[Call] = []

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Drop queued messages and close the engine; the runner's runs are gone afterwards."""
        self.transport.messages.clear()
        self.engine.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def deploy(self, *workflows: Workflow, version: str | None = None) -> None:
        """Play a deploy: runs of these workflows' names continue under this code from now on.

        Each workflow replaces the code registered under its name (the runs in flight replay
        their journals against it when they next move, as on a worker started with the new
        code); ``version`` becomes the code version of the runs started afterwards. Cached
        generators of the old code are dropped.
        """
        for workflow in workflows:
            if not isinstance(workflow, Workflow):
                raise TypeError(f"Runner.deploy() takes @flowgen.workflow objects, got {workflow!r}")
            self.engine.registry.workflows[workflow.name] = workflow
        self.runtime.cache.clear()
        if version is not None:
            self.engine.settings.version = check_version(version)

    # -- runs -------------------------------------------------------------------------------

    # Typed as Engine.start is: with the workflow object and no option, mypy checks the
    # arguments against its parameters and types the handle by its return type.
    @overload
    def start(self, workflow: Workflow[P, R], *args: P.args, **kwargs: P.kwargs) -> RunnerRun[R]: ...
    @overload
    def start(
        self, workflow: Workflow[..., R], *args: Any, run_id: str | None, **kwargs: Any
    ) -> RunnerRun[R]: ...
    @overload
    def start(self, workflow: str, *args: Any, run_id: str | None = None, **kwargs: Any) -> RunnerRun[Any]: ...

    def start(self, workflow: Any, *args: Any, **kwargs: Any) -> RunnerRun[Any]:
        """Start a run and advance it (and whatever it starts) until every run is blocked.

        A run is blocked when it has finished, or waits for a timer (a sleep, a retry back-off,
        an event timeout) or an event. Like :meth:`flowgen.Engine.start`, starting an existing
        run id with the same workflow and arguments returns that run.

        Raises:
            RunIdConflictError: as for the engine.
            InvalidRunIdError: as for the engine.
            SerializationError: as for the engine.
            RunnerError: flowgen itself failed while advancing a run.
        """
        run = self.engine.start(workflow, *args, **kwargs)
        self.run_until_idle()
        return RunnerRun(self, run.run_id)

    def start_many(
        self,
        workflow: Workflow | str,
        calls: Sequence[tuple[Sequence[Any], dict[str, Any] | None, str | None]],
    ) -> list[RunnerRun]:
        """Start several runs like :meth:`flowgen.Engine.start_many`, then advance them until blocked."""
        result = self.engine.start_many(workflow, calls)
        self.run_until_idle()
        return [RunnerRun(self, run.run_id) for run in result.runs]

    def get(self, run_id: str) -> RunnerRun:
        """Return the handle of a run of this runner (a child run, for instance).

        Raises:
            RunNotFoundError: no such run.
        """
        self.engine.get(run_id)
        return RunnerRun(self, run_id)

    def runs(self, status: str | None = None, workflow: Workflow | str | None = None) -> list[RunInfo]:
        """List the runner's runs, newest first, optionally by status and workflow."""
        return self.engine.runs(status=status, workflow=workflow, limit=1_000_000)

    def send_event(self, run_id: str, type: str, payload: Any = None, *, event_id: str | None = None) -> bool:
        """Deliver an event to a run's inbox, then process what it wakes.

        Returns:
            False when ``event_id`` was already delivered, else True.

        Raises:
            RunNotFoundError: as for the engine.
            RunFinishedError: as for the engine.
            SerializationError: as for the engine.
        """
        delivered = self.engine.send_event(run_id, type, payload, event_id=event_id)
        self.run_until_idle()
        return delivered

    def export(self, run_id: str) -> dict[str, Any]:
        """Return the run's journal document, as ``Engine.export`` does (for :func:`verify_replay`)."""
        return self.engine.export(run_id)

    def run_until_idle(self) -> None:
        """Process queued work until every run is blocked (``start`` and ``advance`` call this).

        Raises:
            RunnerError: flowgen itself failed while advancing a run.
        """
        collector = _ErrorCollector()
        runtime_logger = logging.getLogger("flowgen.runtime")
        runtime_logger.addHandler(collector)
        try:
            self.transport.run_until_idle()
        except MessageLimitError as error:
            raise RunnerError(str(error)) from None
        finally:
            runtime_logger.removeHandler(collector)
        if collector.records:
            record = collector.records[0]
            cause = record.exc_info[1] if record.exc_info else None
            if cause is None:
                raise RunnerError(f"flowgen failed while advancing a run: {record.getMessage()}")
            run_id = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            raise RunnerError(
                f"flowgen failed while advancing run {run_id!r}: {type(cause).__name__}: {cause}"
            ) from cause

    # -- time -------------------------------------------------------------------------------

    def now(self) -> datetime:
        """Return the virtual time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock.now(), timezone.utc)

    def next_timer(self) -> datetime | None:
        """Return when the earliest timer (sleep, retry, event timeout, schedule tick) is due, or ``None``.

        The time is rounded up to the microsecond, so ``runner.advance_to(runner.next_timer())``
        fires that timer.
        """
        due = self._next_due()
        return None if due is None else utc_at_or_after(due).replace(tzinfo=timezone.utc)

    def advance(self, duration: Duration) -> None:
        """Move virtual time forward by ``duration`` and run everything that becomes due.

        ``duration`` is anything flowgen accepts as a duration (a timedelta, seconds, or text
        such as ``"30 days"``). Time moves from timer to timer: each timer due within the
        duration fires at its own due time, in order, and the runs it wakes are advanced (and
        may set new timers, which fire too if they fall within the duration) before time moves
        on. Under ``freeze_time``, freezegun's frozen time moves along.

        Raises:
            RunnerError: flowgen itself failed while advancing a run.
        """
        seconds = parse_duration(duration, what="advance duration")
        self.advance_to(self.clock.now() + seconds)

    def advance_to(self, when: datetime | float) -> None:
        """Move virtual time forward to ``when`` (aware datetime or Unix timestamp); see :meth:`advance`."""
        target = parse_timestamp(when)
        self.run_until_idle()
        previous: float | None = None
        for _ in range(_MAX_TIMER_ROUNDS):
            due = self._next_due()
            # Due times are float sums (now + 30 days + 7 days); a timer due within a
            # microsecond of the target counts as due, so advancing by the same durations the
            # workflow waited never misses its timer by a rounding error.
            if due is None or due > target + _TIME_EPSILON:
                break
            if due == previous:
                # The woken run parked again on the very same time: a comparison in float
                # arithmetic judged it not quite due. One microsecond later it is.
                self.clock.move_to(due + _TIME_EPSILON)
            else:
                self.clock.move_to(due)
            previous = due
            self._fire_due_timers()
            if self._next_due() == due and self.clock.now() >= due + _TIME_EPSILON:
                raise RunnerError(
                    f"a run keeps re-arming a timer due at {self.waits.when(due)} that has already fired; "
                    "this is a flowgen bug, please report it"
                )
        else:
            raise RunnerError(
                f"{_MAX_TIMER_ROUNDS} timers fired without virtual time reaching the target; a workflow "
                "probably loops on very short sleeps"
            )
        self.clock.move_to(target)
        self._fire_due_timers()

    @property
    def schedules(self) -> Schedules:
        """The runner's schedules (``engine.schedules``): their ticks fire as virtual time moves."""
        return self.engine.schedules

    def _next_due(self) -> float | None:
        """The earliest of the next timer and the next schedule tick."""
        dues = [due for due in (self.store.next_timer(), self.engine.schedules.next_due()) if due is not None]
        return min(dues, default=None)

    def _fire_due_timers(self) -> None:
        self.engine.schedules.fire_due()
        while True:
            due = self.store.claim_due_timers(self.clock.now(), _TIMER_BATCH, self.engine.settings.grace)
            if due:
                self.transport.enqueue(due)
            self.run_until_idle()
            if len(due) < _TIMER_BATCH:
                return

    # -- mocks and calls --------------------------------------------------------------------

    def mock(
        self,
        step: Step | str,
        *,
        returns: Any = _UNSET,
        raises: BaseException | type[BaseException] | None = None,
        side_effect: Any = None,
    ) -> StepMock:
        """Answer calls of ``step`` in this runner without running its function.

        Give one of ``returns``, ``raises`` or ``side_effect`` (see :class:`StepMock`); none
        means the step returns ``None``. Mocking a step again replaces its mock. The step keeps
        its retry policy, timeout and journaling: a mock that raises is retried like the real
        step would be.

        Raises:
            TypeError: more than one behaviour was given.
        """
        given = [
            name
            for name, value in (
                ("returns", returns is not _UNSET),
                ("raises", raises is not None),
                ("side_effect", side_effect is not None),
            )
            if value
        ]
        if len(given) > 1:
            raise TypeError(
                f"runner.mock() takes one of returns=, raises= or side_effect=, got {' and '.join(given)}"
            )
        if raises is not None and not is_exception(raises):
            raise TypeError(f"raises= must be an exception instance or class, got {raises!r}")
        name = step_name(step)
        mock = StepMock(name, None if returns is _UNSET else returns, raises, side_effect)
        self._mocks[name] = mock
        return mock

    def unmock(self, step: Step | str) -> None:
        """Let ``step`` run its own function again."""
        self._mocks.pop(step_name(step), None)

    def calls(self, step: Step | str | None = None) -> list[Call]:
        """Return the recorded calls of ``step`` (every step when omitted), mocked or real, in order.

        Every attempt is a call: a step that failed twice and then succeeded has three.
        """
        if step is None:
            return list(self._calls)
        name = step_name(step)
        return [c for c in self._calls if c.step == name]

    def _invoke(self, step: Step, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """The runtime's invoker: record the call, then answer it with the mock or the function."""
        mock = self._mocks.get(step.name)
        context = step_context()
        self._calls.append(
            Call(
                step.name,
                tuple(args),
                dict(kwargs),
                mock is not None,
                context.run_id,
                context.position,
                context.attempt,
            )
        )
        if mock is not None:
            return mock(args, kwargs)
        return call_step_function(step, args, kwargs)

    # -- describing blocked runs ------------------------------------------------------------

    def describe_wait(self, run_id: str) -> str:
        """Describe what a run waits for, in words (``""`` for a finished run).

        Raises:
            RunNotFoundError: no such run.
        """
        return self.waits.describe(self.store.get_run_or_raise(run_id))
