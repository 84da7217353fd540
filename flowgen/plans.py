"""Running *plans*: generators that yield their I/O requests, so one piece of logic serves a sync and an async caller.

A plan does its CPU work itself (building arguments, decoding replies, deciding what comes
next, raising the documented errors) and yields each request for I/O; the caller performs it
and sends the reply back, or throws the error the request raised into the plan (so a plan can
``try``/``except`` around a request). The plan's ``return`` value is the result.

Two kinds of plans use these runners: the Redis store's operations
(:mod:`flowgen.stores.redis_plans`, requests are round trips) and the engine's client
operations (:mod:`flowgen.operations`, requests are store calls and enqueues).
:func:`run` performs requests with a blocking function (``Engine``, the sync store),
:func:`run_async` with a coroutine function (``AsyncEngine``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")
Q = TypeVar("Q")


def _resume(plan: Generator[Q, Any, T], reply: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Send ``reply`` (or throw ``error``) into ``plan``: ``(True, result)`` once it returned, else ``(False, request)``."""
    try:
        return False, plan.send(reply) if error is None else plan.throw(error)
    except StopIteration as done:
        return True, done.value


def run(plan: Generator[Q, Any, T], perform: Callable[[Q], Any]) -> T:
    """Run ``plan`` to its result, performing each request with the blocking ``perform``."""
    reply: Any = None
    error: Exception | None = None
    while True:
        finished, value = _resume(plan, reply, error)
        if finished:
            result: T = value
            return result
        try:
            reply, error = perform(value), None
        except Exception as caught:
            reply, error = None, caught


async def run_async(plan: Generator[Q, Any, T], perform: Callable[[Q], Awaitable[Any]]) -> T:
    """Run ``plan`` to its result, awaiting ``perform`` for each request."""
    reply: Any = None
    error: Exception | None = None
    while True:
        finished, value = _resume(plan, reply, error)
        if finished:
            result: T = value
            return result
        try:
            reply, error = await perform(value), None
        except Exception as caught:
            reply, error = None, caught
