"""``flowgen.AsyncEngine``: the operations of :class:`~flowgen.Engine` for asyncio code.

Every method is a coroutine and none blocks the event loop. Each operation is the sync
engine's own (:mod:`flowgen.operations`: the same argument checks, idempotent starts, conflict
rules and errors); what differs is how its I/O is done:

* **Redis**: natively on ``redis.asyncio`` (:mod:`.redis_io`): writes (``start``,
  ``send_event``, control, restart, retry) are the store's Lua scripts with the store's
  arguments (the store's plans, :mod:`flowgen.stores.redis_plans`), the advance messages go
  through the Dramatiq broker's enqueue script, and waiting for a result blocks an async
  connection on the run's notification list. No call holds a thread.
* **SQLite and memory**: their calls block (a file lock, a mutex), so each operation runs on a
  small dedicated executor (``executor_threads``), one thread for the operation's duration;
  waiting for results is one watcher thread per engine that resolves every awaited result
  (:mod:`.waiting`), so awaiting 100 results costs 100 futures, not 100 threads.

The underlying :class:`~flowgen.Engine` is opened on the executor at the first ``await`` (or by
``await engine.open()``): opening a SQLite file or a Redis connection never happens on the loop.
An embedded URL (``sqlite://``, ``memory://``) also runs workers in this process, as ``Engine``
does, unless ``start_workers=False``. ``async with flowgen.AsyncEngine(url) as engine:`` closes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from typing_extensions import ParamSpec

from .. import operations
from ..client import RunInfo
from ..decorators import Workflow
from ..durations import Duration
from ..engine import Engine, StartManyResult
from ..errors import ConfigurationError, FlowgenError, ResultTimeoutError
from ..inspection import workflow_name
from ..observability.hooks import Callback, Hooks
from ..operations import Operation
from ..status import RunStatus
from ..stores.failures import Reason, store_error
from ..validation import check_count, check_page, check_timeout
from .finding import AsyncFinding
from .handles import AsyncRun
from .schedules import AsyncSchedules
from .waiting import AsyncReads, RedisReads, ThreadReads

if TYPE_CHECKING:
    from .redis_io import RedisIO

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

STATUS_POLL = 0.01
"""Seconds between looks of :meth:`AsyncEngine.wait_for_status` (an ``asyncio.sleep``; for tests and scripts)."""


class AsyncEngine(AsyncFinding):
    """The asyncio client of flowgen (see the module docstring).

    Args:
        url: as for :class:`~flowgen.Engine`.
        executor_threads: threads that run the engine's writes (each for one round trip).
        **options: any other :class:`~flowgen.Engine` argument.
    """

    def __init__(self, url: str | None = None, *, executor_threads: int = 4, **options: Any) -> None:
        try:
            inspect.signature(Engine).bind(url, **options)
        except TypeError as error:
            raise TypeError(f"flowgen.AsyncEngine takes the arguments of flowgen.Engine: {error}") from None
        self._url = url
        self._options = options
        self._executor = concurrent.futures.ThreadPoolExecutor(
            check_count(executor_threads, "executor_threads"), "flowgen-async-engine"
        )
        self._engine: Engine | None = None
        self._owns_engine = True
        self._reads: AsyncReads | None = None
        self._io: RedisIO | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False
        self._hooks = Hooks()
        self.schedules = AsyncSchedules(self)
        """Manage schedules (create, update, pause, resume, delete, trigger, list, get); docs/schedules.md."""

    @classmethod
    def from_engine(cls, engine: Engine, *, executor_threads: int = 4) -> AsyncEngine:
        """An async client over an engine that is already open; closing it leaves ``engine`` open."""
        client = cls(executor_threads=executor_threads)
        client._engine = engine
        client._owns_engine = False
        return client

    # -- opening and closing ----------------------------------------------------------------

    async def open(self) -> Engine:
        """Open the underlying :class:`~flowgen.Engine` (on the executor) and return it."""
        if self._closed:
            raise FlowgenError("this AsyncEngine is closed; create a new one")
        if self._engine is not None and self._reads is not None:
            return self._engine
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._engine is None:
                self._engine = await self._in_thread(functools.partial(Engine, self._url, **self._options))
                self._engine.observers.add(self._hooks)
            if self._reads is None:
                self._reads = self._reads_for(self._engine)
        return self._engine

    def _reads_for(self, engine: Engine) -> AsyncReads:
        from ..stores.redis import RedisStore

        # A Redis Cluster needs its commands routed by slot, which one multiplexed connection
        # cannot do: there the async client keeps the executor, as for SQLite.
        if isinstance(engine.store, RedisStore) and not getattr(engine.store, "cluster", False):
            from .redis_io import RedisIO

            self._io = RedisIO(engine.store, engine.transport, engine.url, self._executor)
            return RedisReads(self._io)
        return ThreadReads(engine.store, self._executor)

    def on(self, event: str, callback: Callback) -> Callback:
        """Call ``callback(fact)`` after each ``event`` committed in this process; see :meth:`flowgen.Engine.on`.

        The callbacks run where the transition is committed: in this process's worker threads
        for an embedded engine (``sqlite://``, ``memory://``), not on the event loop; with
        Redis, runs advance in ``flowgen worker`` processes, so give those their hooks with
        :func:`flowgen.on` in a module they import. Registering before the engine is open is
        fine. Returns ``callback``.

        Raises:
            ConfigurationError: an unknown event, or a callback that is not callable.
        """
        self._hooks.add(event, callback)
        if self._engine is not None:
            self._engine.observers.add(self._hooks)
        return callback

    @property
    def engine(self) -> Engine:
        """The underlying sync :class:`~flowgen.Engine` (after the first ``await``)."""
        if self._engine is None:
            raise ConfigurationError(
                "the AsyncEngine is not open yet: `await engine.open()` or await any call first"
            )
        return self._engine

    async def close(self) -> None:
        """Close the connections (and stop an embedded engine's workers, off the loop)."""
        if self._closed:
            return
        self._closed = True
        if self._reads is not None:
            await self._reads.close()
        if self._engine is not None and self._owns_engine:
            await self._in_thread(self._engine.close)
        self._executor.shutdown(wait=False)

    async def __aenter__(self) -> AsyncEngine:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _in_thread(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def _op(self, make: Callable[[Engine], Operation[T]]) -> T:
        """Run the client operation ``make(engine)``: natively on Redis, else on the executor."""
        engine = await self.open()
        operation = make(engine)
        if self._io is not None:
            return await self._io.drive(operation)
        result: T = await self._in_thread(engine._drive, operation)
        return result

    async def _read(self) -> AsyncReads:
        await self.open()
        assert self._reads is not None
        return self._reads

    # -- runs -------------------------------------------------------------------------------

    # The same overloads as Engine.start: with the workflow object and no option, mypy checks the
    # arguments against the workflow's parameters and types the handle by its return type.
    @overload
    async def start(self, workflow: Workflow[P, R], *args: P.args, **kwargs: P.kwargs) -> AsyncRun[R]: ...
    @overload
    async def start(
        self,
        workflow: Workflow[..., R],
        *args: Any,
        run_id: str | None,
        tags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> AsyncRun[R]: ...
    @overload
    async def start(
        self, workflow: Workflow[..., R], *args: Any, tags: Mapping[str, str] | None, **kwargs: Any
    ) -> AsyncRun[R]: ...
    @overload
    async def start(
        self, workflow: Workflow[..., R], *args: Any, concurrency_key: str, **kwargs: Any
    ) -> AsyncRun[R]: ...
    @overload
    async def start(
        self, workflow: Workflow[..., R], *args: Any, start_at: datetime, **kwargs: Any
    ) -> AsyncRun[R]: ...
    @overload
    async def start(self, workflow: Workflow[..., R], *args: Any, delay: Duration, **kwargs: Any) -> AsyncRun[R]: ...
    @overload
    async def start(
        self, workflow: Workflow[..., R], *args: Any, timeout: Duration, **kwargs: Any
    ) -> AsyncRun[R]: ...
    @overload
    async def start(self, workflow: Workflow[..., R], *args: Any, priority: int, **kwargs: Any) -> AsyncRun[R]: ...
    @overload
    async def start(
        self,
        workflow: str,
        *args: Any,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> AsyncRun[Any]: ...

    async def start(self, workflow: Any, *args: Any, **kwargs: Any) -> AsyncRun[Any]:
        """Start a run; see :meth:`Engine.start` (idempotent on ``run_id``)."""
        options = dict(kwargs)
        started = await self._op(lambda engine: operations.start(engine, workflow, args, options))
        return AsyncRun(self, started)

    async def start_many(
        self,
        workflow: Workflow | str,
        calls: Sequence[tuple[Sequence[Any], dict[str, Any] | None, str | None]],
    ) -> StartManyResult[AsyncRun]:
        """Start up to 1,000 runs in a few round trips; see :meth:`Engine.start_many`."""
        done = await self._op(lambda engine: operations.start_many(engine, workflow, calls))
        runs = [AsyncRun(self, run_id) for run_id in done.run_ids]
        return StartManyResult(runs, done.created, done.existing, done.conflicts)

    def get(self, run_id: str) -> AsyncRun:
        """The handle of a run (not checked: its first call raises ``RunNotFoundError`` if missing)."""
        return AsyncRun(self, run_id)

    async def send_event(
        self, run_id: str, type: str, payload: Any = None, *, event_id: str | None = None
    ) -> bool:
        """Deliver an event to a run's inbox; see :meth:`Engine.send_event`."""
        return await self._op(lambda engine: operations.send_event(engine, run_id, type, payload, event_id))

    # -- reading ----------------------------------------------------------------------------

    async def status(self, run_id: str) -> RunInfo:
        """A snapshot of the run; see :meth:`Engine.status`."""
        return await self._op(lambda engine: operations.status(engine, run_id))

    async def runs(
        self,
        status: str | None = None,
        workflow: Workflow | str | None = None,
        limit: int | None = 100,
        offset: int = 0,
        **filters: Any,
    ) -> list[RunInfo]:
        """List runs, newest first; see :meth:`Engine.runs`.

        With any of its search filters (``tags=``, ``parent=``, ``created_after=``, ...,
        ``cursor=``) the sync engine's search runs on the executor and its
        :class:`~flowgen.RunPage` is the answer; without, the listing is native on Redis.
        """
        if filters:
            engine = await self.open()
            page: list[RunInfo] = await self._in_thread(engine.runs, status, workflow, limit, offset, **filters)
            return page
        limit, offset = check_page(limit, offset)
        wanted = None if status is None else RunStatus.parse(status)
        name = None if workflow is None else workflow_name(workflow)
        return await self._op(lambda engine: operations.listing(engine, wanted, name, limit, offset))

    async def result(self, run_id: str, timeout: float | None = None) -> Any:
        """Wait (without blocking the loop) for the run to finish; return its output or raise its error.

        Raises:
            WorkflowFailedError: the run failed.
            WorkflowCancelledError: the run was cancelled.
            ResultTimeoutError: ``timeout`` seconds passed first.
        """
        limit = check_timeout(timeout)
        reads = await self._read()
        record = await reads.wait_finished(run_id, limit)
        if record is None:
            current = await reads.get_run(run_id)
            raise ResultTimeoutError(
                f"run {run_id!r} did not finish within {timeout}s (it is {current.status if current else 'missing'}); "
                "await result() again with a longer timeout, or check that workers are running"
            )
        return self.engine.output_of(record)

    async def wait_for_status(
        self, run_id: str, statuses: Sequence[str], timeout: float | None = 30.0
    ) -> RunInfo:
        """Wait until the run is in one of ``statuses`` (looks every 10 ms; for scripts and tests)."""
        limit = check_timeout(timeout)
        deadline = None if limit is None else time.monotonic() + limit
        reads = await self._read()
        while True:
            record = await reads.get_run(run_id)
            if record is None:
                raise store_error(Reason.MISSING, run_id)
            if record.status in statuses:
                return await self.status(run_id)
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeoutError(
                    f"run {run_id!r} is {record.status}, not {'/'.join(statuses)}, after {timeout}s"
                )
            await asyncio.sleep(STATUS_POLL)

    async def journal(self, run_id: str) -> list[dict[str, Any]]:
        """The run's journal as readable dictionaries; see :meth:`Engine.journal`."""
        return await self._op(lambda engine: operations.journal(engine, run_id))

    async def export(self, run_id: str) -> dict[str, Any]:
        """The run as a JSON-ready export; see :meth:`Engine.export`."""
        return await self._op(lambda engine: operations.export(engine, run_id))

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        """The run's archived generations; see :meth:`Engine.history`."""
        return await self._op(lambda engine: operations.history(engine, run_id))

    # -- control ----------------------------------------------------------------------------

    async def pause(self, run_id: str) -> RunInfo:
        """Pause the run after its current step; see :meth:`Engine.pause`."""
        return await self._op(lambda engine: operations.control_run(engine, run_id, "pause"))

    async def resume(self, run_id: str) -> RunInfo:
        """Resume a paused run; see :meth:`Engine.resume`."""
        return await self._op(lambda engine: operations.control_run(engine, run_id, "resume"))

    async def cancel(self, run_id: str, *, force: bool = False) -> RunInfo:
        """Cancel the run and its children; see :meth:`Engine.cancel`."""
        action = "terminate" if force else "cancel"
        return await self._op(lambda engine: operations.control_run(engine, run_id, action))

    async def restart(self, run_id: str) -> AsyncRun:
        """Run the workflow again from the beginning; see :meth:`Engine.restart`."""
        await self._op(lambda engine: operations.restart(engine, run_id))
        return AsyncRun(self, run_id)

    async def retry(self, run_id: str) -> AsyncRun:
        """Resume a failed run from the failed step; see :meth:`Engine.retry`."""
        await self._op(lambda engine: operations.retry(engine, run_id))
        return AsyncRun(self, run_id)
