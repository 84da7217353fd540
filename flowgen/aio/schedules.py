"""``AsyncEngine.schedules``: the schedule calls of :class:`flowgen.Engine` for asyncio code.

Managing schedules is an operator's work (a few calls, each a handful of reads and one
compare-and-set write), not a hot path, so each call is the sync
:class:`~flowgen.schedules.manager.Schedules`' own, run on the async engine's executor: the same
checks, errors and conflict retries, and the event loop never blocks. Ticks fire in the workers
(``flowgen worker``, or an embedded engine's threads), not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .handles import AsyncRun

if TYPE_CHECKING:
    from ..schedules.manager import Schedules
    from ..schedules.views import ScheduleInfo
    from .engine import AsyncEngine

T = TypeVar("T")


class AsyncSchedules:
    """The schedules of an :class:`~flowgen.AsyncEngine`; every method is a coroutine.

    The methods and their arguments are those of ``Engine.schedules`` (docs/schedules.md).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _call(self, use: Callable[[Schedules], T]) -> T:
        """``use(engine.schedules)`` on the executor (opening the engine first)."""
        opened = await self._engine.open()
        done: T = await self._engine._in_thread(use, opened.schedules)
        return done

    async def create(self, name: str, workflow: Any, **settings: Any) -> ScheduleInfo:
        """Create a schedule; see :meth:`flowgen.schedules.manager.Schedules.create`."""
        return await self._call(lambda schedules: schedules.create(name, workflow, **settings))

    async def update(self, name: str, **changes: Any) -> ScheduleInfo:
        """Change some settings of a schedule; see :meth:`flowgen.schedules.manager.Schedules.update`."""
        return await self._call(lambda schedules: schedules.update(name, **changes))

    async def get(self, name: str, *, ticks: int = 5, runs: int = 10) -> ScheduleInfo:
        """A schedule's settings, next ticks, latest runs and counts."""
        return await self._call(lambda schedules: schedules.get(name, ticks=ticks, runs=runs))

    async def pause(self, name: str, note: str = "") -> ScheduleInfo:
        """Stop a schedule's ticks (runs in progress go on); ``note`` says why."""
        return await self._call(lambda schedules: schedules.pause(name, note))

    async def resume(self, name: str) -> ScheduleInfo:
        """Resume a paused schedule from the first tick after now."""
        return await self._call(lambda schedules: schedules.resume(name))

    async def delete(self, name: str) -> None:
        """Delete a schedule; runs it started go on."""
        await self._call(lambda schedules: schedules.delete(name))

    async def trigger(self, name: str) -> AsyncRun:
        """Start a run of the schedule now, outside its ticks; return its handle."""
        run = await self._call(lambda schedules: schedules.trigger(name))
        return AsyncRun(self._engine, run.run_id)

    # last: a method named ``list`` would shadow the type in the annotations after it
    async def list(self) -> list[ScheduleInfo]:
        """Every schedule, by name."""
        return await self._call(lambda schedules: schedules.list())
