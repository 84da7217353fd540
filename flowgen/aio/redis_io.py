"""The async client's Redis I/O: the store's and the broker's plans, awaited on ``redis.asyncio``.

:class:`RedisIO` runs the plans the sync store runs (:mod:`flowgen.stores.redis_plans`), so
the async client sends the same scripts with the same arguments and decodes the replies with
the same code; only the round trips differ (awaited, on the event loop, with no thread per
call). It also performs the client operations' effects (:mod:`flowgen.operations`): a store
call runs the store's ``<method>_plan``, an enqueue runs the Dramatiq broker's
:meth:`~flowgen.transports.doorbell.DoorbellRedisBroker.enqueue_plan`, and a start's create
and first enqueue are one script call, as in the sync client (:mod:`flowgen.transports.start_enqueue`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
from typing import Any, TypeVar

from ..operations import CreateRuns, Effect, Enqueue, Operation, StoreOp, TransportOp
from ..plans import run_async
from ..stores.redis import UNREACHABLE, RedisStore, unreachable
from ..stores.redis_plans import Commands, Plan, RoundTrip, Script, first_error
from ..stores.redis_runs import BLOCK_SLICE
from ..transports.base import Transport
from ..transports.doorbell import DoorbellRedisBroker
from ..transports.dramatiq import DramatiqTransport
from ..transports.start_enqueue import start_plan
from .autopipe import AutoPipeline

T = TypeVar("T")

RETRY_DELAYS = (0.0, 0.05, 0.2, 0.5)
"""Seconds before each new attempt of a round trip whose connection was lost."""


class RedisIO:
    """Plans and client operations on ``redis.asyncio`` (see the module docstring).

    Args:
        store: the engine's Redis store (its prefix, keys and scripts).
        transport: the engine's transport; enqueues are native on flowgen's own broker
            (``DoorbellRedisBroker``); on an app's broker they run on ``executor``.
        url: where Redis is.
        executor: threads for an app broker's enqueues (``None``: there is none).
    """

    def __init__(
        self,
        store: RedisStore,
        transport: Transport,
        url: str,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        import redis.asyncio

        self.store = store
        self.transport = transport
        self.executor = executor
        broker = transport.broker if isinstance(transport, DramatiqTransport) else None
        self.broker = broker if isinstance(broker, DoorbellRedisBroker) else None
        # Blocking waits (BLMOVE, at most BLOCK_SLICE seconds at a time) use the client's own
        # pool, a connection each; everything else goes through the automatic pipeline.
        self.client: Any = redis.asyncio.Redis.from_url(
            url, socket_timeout=BLOCK_SLICE + 5.0, max_connections=2**31
        )
        self.pipeline = AutoPipeline(self.client)

    async def run(self, plan: Plan[T]) -> T:
        """Run a store or broker plan to its result; an unreachable Redis is ``StoreUnavailableError``."""
        try:
            return await run_async(plan, self.round_trip)
        except UNREACHABLE as error:
            raise unreachable(self.store.location, error) from error

    async def round_trip(self, trip: RoundTrip) -> Any:
        """One round trip: a flowgen script (loaded again if Redis lost it), or commands.

        Both go through the automatic pipeline (:mod:`.autopipe`), so the calls of all the
        coroutines of a turn of the loop share one round trip; a blocking command has a
        connection of its own.
        """
        import redis

        if isinstance(trip, Commands) and trip.blocking:
            return [await self.client.execute_command(*command) for command in trip.commands]
        for attempt in itertools.count():
            try:
                return await self._round_trip_once(trip)
            except redis.ConnectionError:
                # The shared connection was lost (a Redis restart, an idle timeout): the next
                # attempt reconnects, as the sync store's connections retry.
                if attempt >= len(RETRY_DELAYS):
                    raise
                await asyncio.sleep(RETRY_DELAYS[attempt])
        raise AssertionError("unreachable")

    async def _round_trip_once(self, trip: RoundTrip) -> Any:
        import redis

        if isinstance(trip, Script):
            try:
                return await self.pipeline.submit(self.store.script_command(trip.name, trip.args, trip.base))
            except redis.exceptions.NoScriptError:
                sha = await self.pipeline.submit(("SCRIPT", "LOAD", self.store.script_source(trip.name)))
                self.store.reload_script(trip.name, sha)
                return await self.pipeline.submit(self.store.script_command(trip.name, trip.args, trip.base))
        futures = [self.pipeline.submit(command) for command in trip.commands]  # one batch: same turn
        replies: list[Any] = []
        for future in futures:
            try:
                replies.append(await future)
            except Exception as error:
                replies.append(error)
        lost = [reply for reply in replies if isinstance(reply, redis.ConnectionError)]
        if trip.raise_on_error or lost:
            first_error(lost or replies)
        return list(replies)

    async def drive(self, operation: Operation[T]) -> T:
        """Run a client operation (:mod:`flowgen.operations`) with awaited I/O."""
        return await run_async(operation, self.perform)

    async def perform(self, effect: Effect) -> Any:
        """One effect of a client operation: the store's plan of that method, or an enqueue."""
        if isinstance(effect, StoreOp):
            plan = getattr(self.store, f"{effect.method}_plan")(*effect.args, **effect.kwargs)
            return await self.run(plan)
        if isinstance(effect, CreateRuns):
            return await self.create_runs(effect)
        if isinstance(effect, TransportOp):
            if self.broker is not None:  # flowgen's own broker: its reads are plans
                return await self.run(getattr(self.transport, f"{effect.method}_plan")(*effect.args))
            call = functools.partial(getattr(self.transport, effect.method), *effect.args)
            return await asyncio.get_running_loop().run_in_executor(self.executor, call)
        if self.broker is not None:
            assert isinstance(self.transport, DramatiqTransport)
            messages = [self.transport.advance_actor.message(run_id) for run_id in effect.run_ids]
            await self.run(self.broker.enqueue_plan(messages))
            return None
        await asyncio.get_running_loop().run_in_executor(
            self.executor, self.transport.enqueue, list(effect.run_ids)
        )
        return None

    async def create_runs(self, effect: CreateRuns) -> list[tuple[bool, Any]]:
        """:class:`~flowgen.operations.CreateRuns`: one script call with flowgen's own broker on
        this Redis (:mod:`flowgen.transports.start_enqueue`), else the create, then the enqueue."""
        folded = start_plan(self.store, self.transport, effect.runs, effect.now, effect.grace, effect.send)
        if folded is not None:
            return await self.run(folded)
        results: list[tuple[bool, Any]] = await self.run(
            self.store.create_runs_plan(effect.runs, effect.now, effect.grace)
        )
        created = effect.created(results)
        if created:
            await self.perform(Enqueue(tuple(created)))
        return results

    async def close(self) -> None:
        """Close the async connections."""
        await self.pipeline.close()
        close = getattr(self.client, "aclose", None) or self.client.close  # aclose since redis-py 5
        await close()
