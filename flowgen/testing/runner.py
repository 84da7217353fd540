"""The synchronous test runner: production orchestration, in-memory store, virtual time, no threads.

:class:`Runner` builds a real :class:`~flowgen.Engine` over a
:class:`~flowgen.stores.memory.MemoryStore`, a :class:`RunnerClock` and an
:class:`InlineTransport`. The transport does not hand "advance run X" and "run step Y" messages to
worker threads: it queues them in a deque, and the runner processes that deque in the calling
thread until it is empty. Every decision along the way (replay, step attempts and retries,
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
"""

from __future__ import annotations

import calendar
import logging
import random
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

import attrs

from ..client import Run, RunInfo
from ..context import step_context
from ..decorators import Registry, Step, Workflow
from ..decorators import registry as default_registry
from ..durations import Duration, parse_duration, parse_timestamp
from ..engine import Engine
from ..errors import FlowgenError, RunStateError
from ..journal import LeafState, OpenEntry
from ..serialization import DEFAULT_MAX_PAYLOAD_BYTES
from ..status import RunStatus
from ..steps import call_step_function
from ..stores.base import RunRecord
from ..stores.memory import MemoryStore

__all__ = [
    "Call",
    "InlineTransport",
    "RunBlockedError",
    "Runner",
    "RunnerClock",
    "RunnerError",
    "RunnerRun",
    "StepMock",
    "call",
]

_TIMER_BATCH = 1000
_MAX_MESSAGES = 1_000_000
_MAX_TIMER_ROUNDS = 100_000
_TIME_EPSILON = 1e-6
_UNSET: Any = object()


class RunBlockedError(RunStateError):
    """``result()`` was asked of a runner's run that is blocked: it waits for time or an event.

    Under the runner nothing happens on its own: the test moves time with
    :meth:`Runner.advance` or delivers an event with :meth:`RunnerRun.send_event`.

    Attributes:
        run_id: the blocked run.
        status: its status (``waiting``, ``paused``, ...).
        waiting_on: a description of what it waits for.
    """

    def __init__(self, message: str, run_id: str, status: str, waiting_on: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.waiting_on = waiting_on


class RunnerError(FlowgenError):
    """flowgen itself failed while the runner advanced a run (not the workflow or a step).

    On a worker such an error is logged and the run is retried later; in a test it is raised so
    the failure is seen where it happens instead of as a run that never moves again.
    """


# -- time ---------------------------------------------------------------------------------------


def _freezegun_factory() -> Any:
    """Return freezegun's active time factory, or ``None`` when no ``freeze_time`` is active.

    freezegun keeps its active factories in ``freezegun.api.freeze_factories`` (innermost last).
    It is looked up in ``sys.modules`` so the runner neither needs freezegun installed nor
    imports it.
    """
    api = sys.modules.get("freezegun.api")
    factories = getattr(api, "freeze_factories", None)
    return factories[-1] if factories else None


def _timestamp_of(moment: datetime) -> float:
    """Convert a naive UTC datetime to a Unix timestamp, the way freezegun's ``time.time()`` does."""
    return calendar.timegm(moment.timetuple()) + moment.microsecond / 1_000_000


def _utc_at_or_after(timestamp: float) -> datetime:
    """Return the first microsecond (a naive UTC datetime) whose timestamp is not before ``timestamp``.

    Datetimes have microsecond resolution and timestamps are floats: rounding to the nearest
    microsecond could land just before a timer's due time, and a clock moved there would not
    fire it.
    """
    moment = datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)
    while _timestamp_of(moment) < timestamp:
        moment += timedelta(microseconds=1)
    return moment


class RunnerClock:
    """The runner's clock: virtual time that moves only when the test advances it.

    When a ``freezegun.freeze_time`` is active, :meth:`now` reads freezegun's frozen time (so the
    engine, ``flowgen.now()`` and ``time.time()`` in the test agree), and :meth:`move_to` moves
    freezegun's time too. Otherwise it keeps its own time, which starts at ``start`` (default:
    the current time). Moving the clock under freezegun moves its own time by as much, so time
    spent inside a ``freeze_time`` block is not lost when the block ends.

    Args:
        start: the Unix time (or an aware datetime) the virtual time starts at.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        self._now = time.time() if start is None else parse_timestamp(start)

    @property
    def frozen(self) -> bool:
        """Whether freezegun's frozen time is the time source right now."""
        return _freezegun_factory() is not None

    def now(self) -> float:
        """Return the current virtual time as a Unix timestamp."""
        factory = _freezegun_factory()
        if factory is not None:
            return _timestamp_of(factory())
        return self._now

    def move_to(self, timestamp: float) -> None:
        """Move the time forward to ``timestamp`` (never backwards; a past time is a no-op).

        Under freezegun the frozen time is moved with ``move_to``, rounded up to the next
        microsecond (freezegun's resolution) so that a timer due at ``timestamp`` is due when
        the clock is read back.
        """
        factory = _freezegun_factory()
        if factory is None:
            self._now = max(self._now, timestamp)
            return
        current = _timestamp_of(factory())
        if timestamp <= current:
            return
        self._now += timestamp - current
        factory.move_to(_utc_at_or_after(timestamp))

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"time cannot go backwards (advance by {seconds!r}s)")
        self.move_to(self.now() + seconds)


# -- transport ----------------------------------------------------------------------------------


class InlineTransport:
    """A transport that queues messages in memory for :meth:`run_until_idle` to process.

    It has the transport interface the engine expects (``bind``, ``enqueue``,
    ``enqueue_branch``). An "advance run X" message already waiting in the queue is not queued
    twice: processing it once advances the run as far as it can go.
    """

    def __init__(self) -> None:
        self.runtime: Any = None
        self.messages: deque[tuple[Any, ...]] = deque()
        self._queued_runs: set[str] = set()
        self._running = False

    def bind(self, runtime: Any) -> None:
        self.runtime = runtime

    def enqueue(self, run_ids: Sequence[str]) -> None:
        for run_id in run_ids:
            if run_id not in self._queued_runs:
                self._queued_runs.add(run_id)
                self.messages.append(("advance", run_id))

    def enqueue_branch(self, run_id: str, key: str, attempt: int, queue: str | None) -> None:
        self.messages.append(("step", run_id, key, attempt))

    def run_until_idle(self, limit: int = _MAX_MESSAGES) -> int:
        """Process queued messages, and those they queue, until none is left; return how many.

        Re-entrant calls (a step body that sends an event to a run of the same runner) return
        at once: the outer call processes what they queued.

        Raises:
            RunnerError: more than ``limit`` messages in one go (runs that never block).
        """
        if self._running:
            return 0
        self._running = True
        processed = 0
        try:
            while self.messages:
                if processed >= limit:
                    raise RunnerError(
                        f"the runner processed {limit} messages without the runs blocking; a workflow "
                        "probably loops without ever waiting (check loops around steps and events)"
                    )
                message = self.messages.popleft()
                processed += 1
                if message[0] == "advance":
                    self._queued_runs.discard(message[1])
                    self.runtime.advance(message[1])
                else:
                    self.runtime.run_branch(message[1], message[2], message[3])
        finally:
            self._running = False
        return processed


class _ErrorCollector(logging.Handler):
    """Collect the errors the runtime logs (and would retry on a worker) while the runner works."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# -- mocks and calls ----------------------------------------------------------------------------


@attrs.frozen
class Call:
    """One call of a step body, as the runner saw it.

    Two calls compare equal when they have the same step, arguments and keyword arguments; where
    and when the call happened (``run_id``, ``position``, ``attempt``) is kept for inspection but
    not compared. Build expected calls with :func:`call`.

    Attributes:
        step: the step's name.
        args / kwargs: what the body was called with (parallel steps get their arguments back
            from JSON, so tuples arrive as lists there).
        mocked: whether a mock answered instead of the step's function.
        run_id, position, attempt: the run, journal position and attempt number of the call.
    """

    step: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict)
    mocked: bool = attrs.field(default=False, eq=False)
    run_id: str = attrs.field(default="", eq=False)
    position: str = attrs.field(default="", eq=False)
    attempt: int = attrs.field(default=0, eq=False)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.step}({', '.join(parts)})"


def call(step: Step | str, *args: Any, **kwargs: Any) -> Call:
    """Build the :class:`Call` a test expects: ``assert runner.calls(charge) == [call(charge, "o-1")]``."""
    return Call(_step_name(step), tuple(args), dict(kwargs))


def _step_name(step: Step | str) -> str:
    if isinstance(step, Step):
        return step.name
    if isinstance(step, str) and step:
        return step
    raise TypeError(f"expected a @flowgen.step or a step name, got {step!r}")


def _is_exception(value: Any) -> bool:
    return isinstance(value, BaseException) or (isinstance(value, type) and issubclass(value, BaseException))


class StepMock:
    """What a mocked step does instead of running its function (see :meth:`Runner.mock`).

    Exactly one behaviour applies:

    * ``returns``: every call returns this value;
    * ``raises``: every call raises this exception (an instance or a class);
    * ``side_effect``: a callable called with the step's arguments (its return value is the
      result, what it raises is the failure), or an exception, or an iterable whose items
      answer successive calls (an exception item is raised, any other item returned).

    Attributes:
        step: the mocked step's name.
    """

    def __init__(self, step: str, returns: Any = None, raises: Any = None, side_effect: Any = None) -> None:
        self.step = step
        self.returns = returns
        self.raises = raises
        self.side_effect = side_effect
        self._answers: Iterator[Any] | None = None
        if side_effect is not None and not callable(side_effect) and not _is_exception(side_effect):
            if not isinstance(side_effect, Iterable):
                raise TypeError(
                    f"side_effect for step {step!r} must be a callable, an exception or an iterable of "
                    f"results, got {side_effect!r}"
                )
            self._answers = iter(side_effect)

    def __call__(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if self._answers is not None:
            try:
                answer = next(self._answers)
            except StopIteration:
                raise RunnerError(
                    f"mocked step {self.step!r} was called more times than its side_effect list has items; "
                    "add items for the extra calls (retries count as calls)"
                ) from None
            if _is_exception(answer):
                raise answer
            return answer
        if self.side_effect is not None:
            if _is_exception(self.side_effect):
                raise self.side_effect
            return self.side_effect(*args, **kwargs)
        if self.raises is not None:
            raise self.raises
        return self.returns

    def __repr__(self) -> str:
        return f"<StepMock {self.step}>"


# -- run handles --------------------------------------------------------------------------------


class RunnerRun(Run):
    """A run of a :class:`Runner`: the :class:`flowgen.Run` interface, without waiting.

    ``status()``, ``journal()`` and ``send_event()`` work as on an engine (sending an event also
    lets the runner process what it wakes). ``result()`` returns at once: the output of a
    completed run, the error of a failed one, and :class:`RunBlockedError` for a run that waits.
    """

    def __init__(self, runner: Runner, run_id: str) -> None:
        super().__init__(runner.engine, run_id)
        self.runner = runner

    def __repr__(self) -> str:
        return f"<flowgen.testing.RunnerRun {self.run_id}>"

    def result(self, timeout: float | None = None) -> Any:
        """Return the output of the finished run.

        ``timeout`` is accepted for compatibility with :meth:`flowgen.Run.result` and ignored:
        under the runner a run that has not finished will not finish by waiting.

        Raises:
            WorkflowFailedError: the run failed; the workflow's error is the ``__cause__``.
            WorkflowCancelledError: the run was cancelled.
            RunBlockedError: the run has not finished; the message says what it waits for.
        """
        record = self._record()
        if record.is_finished:
            return self.engine.output_of(record)
        raise self.runner._blocked_error(record)

    def send_event(self, type: str, payload: Any = None, event_id: str | None = None) -> bool:
        """Deliver an event to this run and process what it wakes; see :meth:`Runner.send_event`."""
        return self.runner.send_event(self.run_id, type, payload, event_id=event_id)

    def pause(self) -> RunInfo:
        """Pause the run (see :meth:`flowgen.Run.pause`), then process what that changes."""
        self.engine.pause(self.run_id)
        self.runner.run_until_idle()
        return self.status()

    def resume(self) -> RunInfo:
        """Resume the paused run and let it go on until it is blocked again."""
        self.engine.resume(self.run_id)
        self.runner.run_until_idle()
        return self.status()

    def cancel(self, force: bool = False) -> RunInfo:
        """Cancel the run and its children (see :meth:`flowgen.Run.cancel`), running any cleanup."""
        self.engine.cancel(self.run_id, force=force)
        self.runner.run_until_idle()
        return self.status()

    def restart(self) -> RunnerRun:
        """Run the workflow again from the beginning (see :meth:`flowgen.Run.restart`)."""
        self.engine.restart(self.run_id)
        self.runner.run_until_idle()
        return self

    def retry(self) -> RunnerRun:
        """Resume the failed run from its failed step (see :meth:`flowgen.Run.retry`)."""
        self.engine.retry(self.run_id)
        self.runner.run_until_idle()
        return self

    def wait_for_status(self, *statuses: str, timeout: float = 30.0) -> RunInfo:
        """Return the status if the run is in one of ``statuses``; raise :class:`RunBlockedError` if not.

        Nothing changes by waiting under the runner, so this checks once.
        """
        info = self.status()
        if info.status in statuses:
            return info
        record = self._record()
        raise self.runner._blocked_error(record, wanted=statuses)

    def waiting_on(self) -> str:
        """Describe what the run waits for (``""`` when it has finished)."""
        return self.runner.describe_wait(self.run_id)


# -- the runner ---------------------------------------------------------------------------------


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
        )
        self.runtime = self.engine.runtime
        self.runtime.invoker = self._invoke
        self.runtime.rng = random.Random(seed)
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

    # -- runs -------------------------------------------------------------------------------

    def start(
        self, workflow: Workflow | str, *args: Any, run_id: str | None = None, **kwargs: Any
    ) -> RunnerRun:
        """Start a run and advance it (and whatever it starts) until every run is blocked.

        A run is blocked when it has finished, or waits for a timer (a sleep, a retry back-off,
        an event timeout) or an event. Like :meth:`flowgen.Engine.start`, starting an existing
        run id with the same workflow and arguments returns that run.

        Raises:
            RunIdConflictError / InvalidRunIdError / SerializationError: as for the engine.
            RunnerError: flowgen itself failed while advancing a run.
        """
        run = self.engine.start(workflow, *args, run_id=run_id, **kwargs)
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
            RunNotFoundError / RunFinishedError / SerializationError: as for the engine.
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
        """Return when the earliest timer (sleep, retry, event timeout) is due, or ``None``.

        The time is rounded up to the microsecond, so ``runner.advance_to(runner.next_timer())``
        fires that timer.
        """
        due = self.store.next_timer()
        return None if due is None else _utc_at_or_after(due).replace(tzinfo=timezone.utc)

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
            due = self.store.next_timer()
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
            if self.store.next_timer() == due and self.clock.now() >= due + _TIME_EPSILON:
                raise RunnerError(
                    f"a run keeps re-arming a timer due at {self._when(due)} that has already fired; "
                    "this is a flowgen bug, please report it"
                )
        else:
            raise RunnerError(
                f"{_MAX_TIMER_ROUNDS} timers fired without virtual time reaching the target; a workflow "
                "probably loops on very short sleeps"
            )
        self.clock.move_to(target)
        self._fire_due_timers()

    def _fire_due_timers(self) -> None:
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
        if raises is not None and not _is_exception(raises):
            raise TypeError(f"raises= must be an exception instance or class, got {raises!r}")
        name = _step_name(step)
        mock = StepMock(name, None if returns is _UNSET else returns, raises, side_effect)
        self._mocks[name] = mock
        return mock

    def unmock(self, step: Step | str) -> None:
        """Let ``step`` run its own function again."""
        self._mocks.pop(_step_name(step), None)

    def calls(self, step: Step | str | None = None) -> list[Call]:
        """Return the recorded calls of ``step`` (every step when omitted), mocked or real, in order.

        Every attempt is a call: a step that failed twice and then succeeded has three.
        """
        if step is None:
            return list(self._calls)
        name = _step_name(step)
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
        return self._describe(self.store.get_run_or_raise(run_id), depth=0)

    def _describe(self, record: RunRecord, depth: int) -> str:
        if record.is_finished:
            return ""
        if record.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            return (
                f"for nothing: it is {record.status} but no message will advance it, because flowgen "
                "failed while advancing it (see the error logged by flowgen.runtime)"
            )
        if record.open is None:
            return f"for nothing in particular (it is {record.status})"
        entry = OpenEntry.from_json(record.open)
        leaves = [
            self._describe_leaf(state, depth) for state in entry.leaves.values() if state.outcome is None
        ]
        where = f"at position {entry.position}"
        if entry.kind in ("all_of", "any_of"):
            return f"{where} on {entry.name}, for: " + "; ".join(leaves)
        return f"{where} for " + (leaves[0] if leaves else entry.name)

    def _describe_leaf(self, state: LeafState, depth: int) -> str:
        if state.kind == "sleep":
            return f"a {state.name} until {self._when(state.due)}"
        if state.kind == "event":
            timeout = (
                f", timing out at {self._when(state.due)}" if state.due is not None else ", with no timeout"
            )
            return f"event {state.name!r}{timeout}"
        if state.kind == "step":
            tried = len(state.attempts)
            if state.next_at is not None:
                retry_at = self._when(state.next_at)
                return f"step {state.name!r} to be retried at {retry_at} (after {tried} failed attempt(s))"
            return f"step {state.name!r} (attempt {tried + 1})"
        if state.kind == "child":
            child = self.store.get_run(state.child) if state.child else None
            if child is None:
                return f"child run of {state.name!r}"
            inner = self._describe(child, depth + 1) if depth < 3 else ""
            detail = f"{child.status}: {inner}" if inner else child.status
            return f"child run {child.run_id!r} of {state.name!r} ({detail})"
        return f"{state.kind} {state.name!r}"

    def _when(self, due: float | None) -> str:
        if due is None:
            return "never"
        moment = datetime.fromtimestamp(due, timezone.utc).isoformat()
        delta = due - self.clock.now()
        relative = f"in {_human(delta)}" if delta >= 0 else f"{_human(-delta)} ago"
        return f"{moment}, {relative} of virtual time"

    def _blocked_error(self, record: RunRecord, wanted: Sequence[str] = ()) -> RunBlockedError:
        waiting_on = self._describe(record, depth=0)
        run = f"run {record.run_id!r} of workflow {record.workflow!r}"
        if wanted:
            head = f"{run} is {record.status}, not {'/'.join(wanted)}"
        else:
            head = f"{run} has not finished ({record.status})"
        message = (
            f"{head}: it waits {waiting_on}. Under flowgen.testing.Runner nothing happens by waiting: "
            "move virtual time with runner.advance(...) or deliver the event with run.send_event(...)"
        )
        return RunBlockedError(message, record.run_id, record.status, waiting_on)


def _human(seconds: float) -> str:
    """Format a non-negative span of seconds as ``"7d 2h"``, ``"5m 30s"`` or ``"0.5s"``."""
    remaining = seconds
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if remaining >= size:
            count = int(remaining // size)
            parts.append(f"{count}{unit}")
            remaining -= count * size
    if remaining or not parts:
        parts.append(f"{remaining:g}s")
    return " ".join(parts[:2])
