"""``AsyncRun``: the handle on one run of an :class:`~.engine.AsyncEngine` (the async :class:`~flowgen.Run`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeVar

from ..client import RunInfo
from ..engine import StartManyResult

if TYPE_CHECKING:
    from .engine import AsyncEngine

R = TypeVar("R", default=Any)


class AsyncRun(Generic[R]):
    """A handle on one run; cheap to create, holds no state but the id. Every method is a coroutine.

    Typed by the workflow's return type as :class:`flowgen.Run` is: ``await engine.start(order,
    ...)`` gives an ``AsyncRun[<order's return type>]`` whose :meth:`result` is that type.
    """

    def __init__(self, engine: AsyncEngine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"<flowgen.AsyncRun {self.run_id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncRun) and other.engine is self.engine and other.run_id == self.run_id

    def __hash__(self) -> int:
        return hash(self.run_id)

    async def status(self) -> RunInfo:
        """A snapshot of the run; see :meth:`flowgen.Engine.status`."""
        return await self.engine.status(self.run_id)

    async def result(self, timeout: float | None = None) -> R:
        """Wait for the run to finish, without blocking the event loop; see :meth:`flowgen.Run.result`."""
        result: R = await self.engine.result(self.run_id, timeout)
        return result

    async def send_event(self, type: str, payload: Any = None, event_id: str | None = None) -> bool:
        """Send an event to this run; see :meth:`flowgen.Engine.send_event`."""
        return await self.engine.send_event(self.run_id, type, payload, event_id=event_id)

    async def events(self) -> list[dict[str, Any]]:
        """The run's buffered events; see :meth:`flowgen.Engine.events`."""
        return await self.engine.events(self.run_id)

    async def timeline(self) -> dict[str, Any]:
        """The run's readable timeline; see :meth:`flowgen.Engine.timeline`."""
        return await self.engine.timeline(self.run_id)

    def watch(self, timeout: float | None = None, interval: float = 1.0) -> AsyncIterator[RunInfo]:
        """``async for info in run.watch():`` the run's state now and after each change; see :meth:`AsyncEngine.watch`."""
        return self.engine.watch(self.run_id, timeout=timeout, interval=interval)

    async def journal(self) -> list[dict[str, Any]]:
        """The run's journal; see :meth:`flowgen.Engine.journal`."""
        return await self.engine.journal(self.run_id)

    async def pause(self) -> RunInfo:
        """Pause the run after its current step; see :meth:`flowgen.Engine.pause`."""
        return await self.engine.pause(self.run_id)

    async def resume(self) -> RunInfo:
        """Resume a paused run; see :meth:`flowgen.Engine.resume`."""
        return await self.engine.resume(self.run_id)

    async def cancel(self, force: bool = False) -> RunInfo:
        """Cancel the run (and its children); see :meth:`flowgen.Engine.cancel`."""
        return await self.engine.cancel(self.run_id, force=force)

    async def restart(self) -> AsyncRun:
        """Run the workflow again from the beginning; see :meth:`flowgen.Engine.restart`."""
        return await self.engine.restart(self.run_id)

    async def retry(self) -> AsyncRun:
        """Resume a failed run from the failed step; see :meth:`flowgen.Engine.retry`."""
        return await self.engine.retry(self.run_id)

    async def history(self) -> list[dict[str, Any]]:
        """The run's archived generations; see :meth:`flowgen.Engine.history`."""
        return await self.engine.history(self.run_id)

    async def wait_for_status(self, *statuses: str, timeout: float = 30.0) -> RunInfo:
        """Wait until the run is in one of ``statuses`` (for scripts and tests)."""
        return await self.engine.wait_for_status(self.run_id, statuses, timeout)


AsyncStartManyResult = StartManyResult
"""What :meth:`AsyncEngine.start_many` returns: :class:`~flowgen.StartManyResult` itself (one
shape for both clients; its ``runs`` are :class:`AsyncRun` handles). The name is kept so code
written against it still works."""
