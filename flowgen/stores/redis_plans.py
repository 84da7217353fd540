"""Redis operations as *plans*: what to send and how to read the replies, with no I/O of their own.

A plan is a generator that yields one :data:`RoundTrip` at a time (a flowgen :class:`Script`
call, or :class:`Commands` sent in one pipeline), receives its reply, and returns the
operation's result. The argument building (keys, exact floats, JSON) and the decoding of the
replies (records, errors such as ``RunNotFoundError``) are written once, in the plan; the
caller brings the I/O:

* the sync store (:class:`~flowgen.stores.redis.RedisStore`) runs plans with :func:`run_plan`
  over its thread's connection (:meth:`RedisStore.round_trip`); an error a round trip raises
  is thrown into the plan (:mod:`flowgen.plans`);
* the async client (:class:`flowgen.AsyncEngine`) runs the very same plans on ``redis.asyncio``
  (:mod:`flowgen.aio.redis_io`), so its writes are the store's scripts with the store's
  arguments, awaited on the event loop with no thread per call.

The Dramatiq broker's enqueue is a plan too (:meth:`DoorbellRedisBroker.enqueue_plan`), run the
same two ways.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import attrs

from ..plans import run

T = TypeVar("T")


@attrs.frozen
class Script:
    """Call the flowgen Lua script ``name`` (``stores/lua/<name>.lua``) with ``args``; the reply is the script's.

    ``base`` is the base key of the shard the script works in, its ``KEYS[1]`` (see
    :mod:`flowgen.stores.redis_shards`): the prefix on a single Redis; ``None`` means the shard
    of run ``args[0]``.
    """

    name: str
    args: tuple[Any, ...]
    base: str | None = None


@attrs.frozen
class Commands:
    """Plain Redis commands sent in one pipelined round trip; the reply is the list of their replies.

    With ``raise_on_error=False`` an error reply is an exception object in that list instead of
    being raised (the broker's script calls handle ``NOSCRIPT`` that way).
    """

    commands: tuple[tuple[Any, ...], ...]
    raise_on_error: bool = True
    blocking: bool = False
    """A blocking command (``BLMOVE``): an async client sends it on a connection of its own."""


RoundTrip = Script | Commands
Plan = Generator[RoundTrip, Any, T]
"""A Redis operation: yields round trips, receives their replies, returns its result."""


def script(name: str, *args: Any, base: str | None = None) -> Generator[RoundTrip, Any, Any]:
    """``reply = yield from script(name, ..., base=...)`` inside a plan (``base``: see :class:`Script`)."""
    return (yield Script(name, args, base))


def commands(*items: tuple[Any, ...], blocking: bool = False) -> Generator[RoundTrip, Any, list[Any]]:
    """``replies = yield from commands(("HGETALL", key), ...)`` inside a plan (one pipeline)."""
    if not items:
        return []
    replies = yield Commands(items, blocking=blocking)
    return list(replies)


def run_plan(plan: Plan[T], round_trip: Callable[[RoundTrip], Any]) -> T:
    """Run ``plan`` to its result, doing each round trip with the blocking ``round_trip``."""
    return run(plan, round_trip)


def pipelined(client: Any, trip: Commands) -> list[Any]:
    """One :class:`Commands` round trip on a sync redis-py client (a single command skips the pipeline)."""
    if len(trip.commands) == 1:
        try:
            return [client.execute_command(*trip.commands[0])]
        except Exception as error:
            if trip.raise_on_error or not isinstance(error, _response_error()):
                raise
            return [error]
    pipe = client.pipeline(transaction=False)
    for command in trip.commands:
        pipe.execute_command(*command)
    return list(pipe.execute(raise_on_error=trip.raise_on_error))


def first_error(replies: Sequence[Any]) -> None:
    """Raise the first exception among pipeline ``replies`` (sent with ``raise_on_error=False``)."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def _response_error() -> type[Exception]:
    import redis

    return redis.ResponseError
