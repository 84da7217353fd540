"""The inspection half of :class:`~flowgen.aio.engine.AsyncEngine`: counts, inboxes, timelines, purge, watch.

These are an operator's calls, not a service's hot path (that is start, send_event, status and
result, which run natively on Redis). So rather than a second implementation of each, they run
the sync :class:`~flowgen.Engine`'s own on the async engine's executor: the event loop never
blocks, and the answers are exactly the sync engine's. ``watch`` polls the run's status (the
sync ``run.watch()`` is also nudged by Redis pub/sub; the async one sees a change within
``interval`` seconds).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from ..client import RunInfo
from ..observability.watch import RunWatch

if TYPE_CHECKING:
    from ..engine import Engine


class AsyncFinding:
    """Mixed into :class:`~flowgen.aio.engine.AsyncEngine`; every method is a coroutine."""

    if TYPE_CHECKING:

        async def open(self) -> Engine: ...
        async def _in_thread(self, function: Any, *args: Any, **kwargs: Any) -> Any: ...
        async def status(self, run_id: str) -> RunInfo: ...

    async def count(self, status: str | Iterable[str] | None = None, workflow: Any = None, **filters: Any) -> dict[str, int]:
        """Count runs by status; the filters of :meth:`flowgen.Engine.count`."""
        engine = await self.open()
        counted: dict[str, int] = await self._in_thread(engine.count, status, workflow, **filters)
        return counted

    async def events(self, run_id: str) -> list[dict[str, Any]]:
        """A run's buffered events; see :meth:`flowgen.Engine.events`."""
        engine = await self.open()
        found: list[dict[str, Any]] = await self._in_thread(engine.events, run_id)
        return found

    async def timeline(self, run_id: str) -> dict[str, Any]:
        """A run's readable timeline; see :meth:`flowgen.Engine.timeline`."""
        engine = await self.open()
        found: dict[str, Any] = await self._in_thread(engine.timeline, run_id)
        return found

    async def purge(self, older_than: Any, **options: Any) -> list[str]:
        """Delete finished runs older than ``older_than``; see :meth:`flowgen.Engine.purge` (same options)."""
        engine = await self.open()
        purged: list[str] = await self._in_thread(engine.purge, older_than, **options)
        return purged

    async def watch(self, run_id: str, timeout: float | None = None, interval: float = 1.0) -> AsyncIterator[RunInfo]:
        """Yield the run's :class:`~flowgen.RunInfo` now and after each state change, until it finishes.

        A state change is what :meth:`flowgen.Run.watch` reports (status, events waited for,
        pending pause, cancellation); the status is read every ``interval`` seconds.

        Raises:
            RunNotFoundError: no such run.
            ResultTimeoutError: ``timeout`` seconds passed before the run finished.
        """
        watch = RunWatch(run_id, timeout, interval)
        while True:
            info = await self.status(run_id)
            if watch.is_new(info):
                yield info
            left = watch.next_look(info)
            if left is None:
                return
            await asyncio.sleep(left)
