"""``flowgen.AsyncEngine``: the operations of :class:`~flowgen.Engine` for asyncio code.

Every method is a coroutine and none blocks the event loop:

* reads (``status``, ``runs``) and **waiting for results** are native: ``redis.asyncio`` for a
  Redis URL, and for SQLite and memory one watcher thread per engine that resolves every
  awaited result (:mod:`.waiting`), so awaiting 100 results costs 100 futures, not 100 threads;
* writes (``start``, ``send_event``, control) and journal reads run the sync engine's own code
  on a small dedicated executor (``executor_threads``), so they follow exactly the rules of
  :class:`~flowgen.Engine` (idempotent starts, fencing, error messages) and each holds an
  executor thread for one store round trip only.

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
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

from ..client import RunInfo
from ..decorators import Workflow
from ..engine import Engine, StartManyResult
from ..errors import ConfigurationError, FlowgenError, ResultTimeoutError
from ..inspection import workflow_name
from ..status import RunStatus
from ..stores.base import RunRecord
from ..validation import check_count, check_page, check_timeout
from .handles import AsyncRun, AsyncStartManyResult
from .waiting import AsyncReads, RedisReads, ThreadReads

T = TypeVar("T")

STATUS_POLL = 0.01
"""Seconds between looks of :meth:`AsyncEngine.wait_for_status` (an ``asyncio.sleep``; for tests and scripts)."""


class AsyncEngine:
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
        self._opening: asyncio.Lock | None = None
        self._closed = False

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
            if self._reads is None:
                self._reads = self._reads_for(self._engine)
        return self._engine

    def _reads_for(self, engine: Engine) -> AsyncReads:
        from ..stores.redis import RedisStore

        if isinstance(engine.store, RedisStore):
            return RedisReads(engine.store, engine.url)
        return ThreadReads(engine.store, self._executor)

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

    async def _sync(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``Engine.<method>`` on the executor."""
        engine = await self.open()
        return await self._in_thread(getattr(engine, method), *args, **kwargs)

    async def _read(self) -> AsyncReads:
        await self.open()
        assert self._reads is not None
        return self._reads

    # -- runs -------------------------------------------------------------------------------

    async def start(
        self, workflow: Workflow | str, *args: Any, run_id: str | None = None, **kwargs: Any
    ) -> AsyncRun:
        """Start a run; see :meth:`Engine.start` (idempotent on ``run_id``)."""
        run = await self._sync("start", workflow, *args, run_id=run_id, **kwargs)
        return AsyncRun(self, run.run_id)

    async def start_many(
        self,
        workflow: Workflow | str,
        calls: Sequence[tuple[Sequence[Any], dict[str, Any] | None, str | None]],
    ) -> AsyncStartManyResult:
        """Start up to 1,000 runs in a few round trips; see :meth:`Engine.start_many`."""
        result: StartManyResult = await self._sync("start_many", workflow, calls)
        runs = [AsyncRun(self, run.run_id) for run in result.runs]
        return AsyncStartManyResult(runs, result.created, result.existing, result.conflicts)

    def get(self, run_id: str) -> AsyncRun:
        """The handle of a run (not checked: its first call raises ``RunNotFoundError`` if missing)."""
        return AsyncRun(self, run_id)

    async def send_event(
        self, run_id: str, type: str, payload: Any = None, *, event_id: str | None = None
    ) -> bool:
        """Deliver an event to a run's inbox; see :meth:`Engine.send_event`."""
        delivered: bool = await self._sync("send_event", run_id, type, payload, event_id=event_id)
        return delivered

    # -- reading ----------------------------------------------------------------------------

    async def _record(self, run_id: str) -> RunRecord:
        record = await (await self._read()).get_run(run_id)
        if record is None:
            from ..stores.failures import Reason, store_error

            raise store_error(Reason.MISSING, run_id)
        return record

    async def status(self, run_id: str) -> RunInfo:
        """A snapshot of the run; see :meth:`Engine.status`."""
        record = await self._record(run_id)
        return self.engine.run_info(record, (await self._tags([run_id]))[run_id])

    async def _tags(self, run_ids: list[str]) -> dict[str, dict[str, str]]:
        """The runs' tags, read on the executor (the store's read is a blocking call)."""
        tags: dict[str, dict[str, str]] = await self._in_thread(self.engine.store.tags_of, run_ids)
        return tags

    async def runs(
        self,
        status: str | None = None,
        workflow: Workflow | str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[RunInfo]:
        """List runs, newest first; see :meth:`Engine.runs`."""
        limit, offset = check_page(limit, offset)
        wanted = None if status is None else RunStatus.parse(status)
        name = None if workflow is None else workflow_name(workflow)
        records = await (await self._read()).list_runs(wanted, name, limit, offset)
        tags = await self._tags([record.run_id for record in records])
        return [self.engine.run_info(record, tags[record.run_id]) for record in records]

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
        while True:
            record = await self._record(run_id)
            if record.status in statuses:
                return self.engine.run_info(record, (await self._tags([run_id]))[run_id])
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeoutError(
                    f"run {run_id!r} is {record.status}, not {'/'.join(statuses)}, after {timeout}s"
                )
            await asyncio.sleep(STATUS_POLL)

    async def journal(self, run_id: str) -> list[dict[str, Any]]:
        """The run's journal as readable dictionaries; see :meth:`Engine.journal`."""
        entries: list[dict[str, Any]] = await self._sync("journal", run_id)
        return entries

    async def export(self, run_id: str) -> dict[str, Any]:
        """The run as a JSON-ready export; see :meth:`Engine.export`."""
        exported: dict[str, Any] = await self._sync("export", run_id)
        return exported

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        """The run's archived generations; see :meth:`Engine.history`."""
        generations: list[dict[str, Any]] = await self._sync("history", run_id)
        return generations

    # -- control ----------------------------------------------------------------------------

    async def pause(self, run_id: str) -> RunInfo:
        """Pause the run after its current step; see :meth:`Engine.pause`."""
        info: RunInfo = await self._sync("pause", run_id)
        return info

    async def resume(self, run_id: str) -> RunInfo:
        """Resume a paused run; see :meth:`Engine.resume`."""
        info: RunInfo = await self._sync("resume", run_id)
        return info

    async def cancel(self, run_id: str, *, force: bool = False) -> RunInfo:
        """Cancel the run and its children; see :meth:`Engine.cancel`."""
        info: RunInfo = await self._sync("cancel", run_id, force=force)
        return info

    async def restart(self, run_id: str) -> AsyncRun:
        """Run the workflow again from the beginning; see :meth:`Engine.restart`."""
        await self._sync("restart", run_id)
        return AsyncRun(self, run_id)

    async def retry(self, run_id: str) -> AsyncRun:
        """Resume a failed run from the failed step; see :meth:`Engine.retry`."""
        await self._sync("retry", run_id)
        return AsyncRun(self, run_id)
