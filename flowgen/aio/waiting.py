"""How :class:`~.engine.AsyncEngine` reads runs and waits for them without blocking its event loop.

* :class:`RedisReads`: native ``redis.asyncio``, running the sync store's own plans (a run's
  record is one ``HGETALL``; waiting for a result blocks a connection of the async pool on the
  run's ``done`` list, as the sync store does, so no thread waits at all);
* :class:`ThreadReads`: stores whose calls block a thread (SQLite, memory): reads run on the
  engine's executor threads, and **one** watcher thread per engine serves every awaited result.
  It is woken by each finish this process commits (and looks again every ``poll_interval`` for
  finishes of other processes), reads the runs awaited, and resolves their futures on their
  loops. A hundred awaited results cost a hundred futures, not a hundred threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import FlowgenError
from ..status import FINISHED, RunStatus
from ..stores.base import RunRecord, Store
from ..stores.failures import Reason, store_error

if TYPE_CHECKING:
    from .redis_io import RedisIO

T = TypeVar("T")

WATCH_INTERVAL = 0.25
"""Seconds between the watcher's looks when the store cannot notify it (or another process finishes runs)."""


class AsyncReads(Protocol):
    """The reads of an async engine (see the module docstring)."""

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(
        self, status: RunStatus | None, workflow: str | None, limit: int | None, offset: int
    ) -> list[RunRecord]: ...

    async def wait_finished(self, run_id: str, timeout: float | None) -> RunRecord | None: ...

    async def close(self) -> None: ...


class ThreadReads:
    """Reads on executor threads, and one watcher thread for every awaited result."""

    def __init__(self, store: Store, executor: concurrent.futures.Executor) -> None:
        self.store = store
        self.executor = executor
        self._lock = threading.Lock()
        self._waiting: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[RunRecord]]]] = {}
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self.call(self.store.get_run, run_id)

    async def list_runs(
        self, status: RunStatus | None, workflow: str | None, limit: int | None, offset: int
    ) -> list[RunRecord]:
        def read() -> list[RunRecord]:
            return self.store.list_runs(status=status, workflow=workflow, limit=limit, offset=offset)

        return await self.call(read)

    async def wait_finished(self, run_id: str, timeout: float | None) -> RunRecord | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[RunRecord] = loop.create_future()
        with self._lock:
            if self._closed:
                raise FlowgenError("this AsyncEngine is closed; open a new one to wait for results")
            self._waiting.setdefault(run_id, []).append((loop, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="flowgen-async-results", daemon=True)
                self._thread.start()
        self._wake.set()
        try:
            # Read once after registering: a finish before this read is seen here, and one
            # after it wakes the watcher, which by then knows this waiter.
            record = await self.get_run(run_id)
            if record is None:
                raise store_error(Reason.MISSING, run_id)
            if record.status in FINISHED:
                return record
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            with self._lock:
                waiters = self._waiting.get(run_id, [])
                if (loop, future) in waiters:
                    waiters.remove((loop, future))
                if not waiters:
                    self._waiting.pop(run_id, None)

    def _watch(self) -> None:
        notices = getattr(self.store, "wait_any_finished", None)
        seen = -1
        while True:
            with self._lock:
                if self._closed:
                    return
                awaited = list(self._waiting)
            self._wake.clear()
            if notices is not None:
                seen = notices(-1, 0)  # the count before reading: a finish after it wakes the wait below
            for run_id in awaited:
                try:
                    record = self.store.get_run(run_id)
                    if record is None:
                        raise store_error(Reason.MISSING, run_id)
                except Exception as error:
                    self._resolve(run_id, error)
                    continue
                if record.status in FINISHED:
                    self._resolve(run_id, record)
            with self._lock:
                if not self._waiting and not self._closed:
                    self._thread = None
                    return
            if self._wake.is_set():
                continue
            if notices is not None:
                notices(seen, WATCH_INTERVAL)
            else:
                self._wake.wait(WATCH_INTERVAL)

    def _resolve(self, run_id: str, outcome: RunRecord | BaseException) -> None:
        with self._lock:
            waiters = self._waiting.pop(run_id, [])
        for loop, future in waiters:
            loop.call_soon_threadsafe(_settle, future, outcome)

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            waiters = [w for ws in self._waiting.values() for w in ws]
            self._waiting.clear()
        error = FlowgenError("the AsyncEngine was closed while this result was awaited")
        for loop, future in waiters:
            loop.call_soon_threadsafe(_settle, future, error)


def _settle(future: asyncio.Future[RunRecord], outcome: RunRecord | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class RedisReads:
    """Reads and result waits on ``redis.asyncio``: the store's own plans, awaited (:mod:`.redis_io`)."""

    def __init__(self, io: RedisIO) -> None:
        self.io = io
        self.store = io.store

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self.io.run(self.store.get_run_plan(run_id))

    async def list_runs(
        self, status: RunStatus | None, workflow: str | None, limit: int | None, offset: int
    ) -> list[RunRecord]:
        return await self.io.run(self.store.list_runs_plan(status, workflow, limit, offset))

    async def wait_finished(self, run_id: str, timeout: float | None) -> RunRecord | None:
        # As the sync store: BLMOVE from the run's done list to itself wakes every waiter.
        return await self.io.run(self.store.wait_finished_plan(run_id, timeout))

    async def close(self) -> None:
        await self.io.close()
