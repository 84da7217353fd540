"""Run one attempt of an ``async def`` step: in its step context, under a timeout that cancels it.

A sync step's timeout can only raise into its thread when it next runs Python code
(:mod:`flowgen.timeouts`); an async step's timeout **cancels the coroutine** at the ``await`` it
is suspended in, so an HTTP call in flight is really abandoned (the library's own cleanup runs,
``finally`` blocks run). The attempt then fails with :class:`~flowgen.errors.StepTimeoutError`
and is retried like any failed attempt.

``flowgen.step_context()`` works inside the coroutine (and in tasks it creates): the context is a
``contextvars`` variable set in the attempt's own task, so concurrent attempts on one loop never
see each other's context.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from ..context import StepContext, running_step
from ..decorators import Step
from ..errors import StepTimeoutError
from ..steps import AttemptResult, StepInvoker
from .loop import step_loop

T = TypeVar("T")


async def run_async_attempt(
    step: Step,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    context: StepContext,
    invoker: StepInvoker,
) -> AttemptResult:
    """Await the step body once under its context and timeout; never raises an ``Exception``.

    The invoker returns the step's coroutine (or, for a mock, maybe a plain value), which is
    awaited here.
    """
    with running_step(context):
        try:
            value = invoker(step, args, kwargs)
            if inspect.isawaitable(value):
                value = await _within(value, step.timeout)
            return AttemptResult(True, step.check_result(value))
        except _TimedOut:
            timed_out = StepTimeoutError(
                f"step {step.name!r} attempt {context.attempt} ran longer than its timeout of "
                f"{step.timeout:g}s; its coroutine was cancelled"
            )
            return AttemptResult(False, error=timed_out, traceback=traceback.format_exc())
        except Exception as error:
            return AttemptResult(False, error=error, traceback=traceback.format_exc())


class _TimedOut(Exception):
    """The attempt's own timeout cancelled it (a ``TimeoutError`` the step raised is its error)."""


async def _within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """Await ``awaitable``; past ``seconds``, cancel it, wait until it has unwound, raise :class:`_TimedOut`."""
    if seconds is None:
        return await awaitable
    task = asyncio.ensure_future(awaitable)  # runs in a copy of this context: step_context() works
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.wait({task})  # its finally blocks and cleanup run before the attempt ends
    if not task.cancelled() and task.exception() is None:
        return task.result()  # it finished in the same instant: keep its result
    raise _TimedOut()


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the process's step loop and block this thread until it ends.

    Used where an async step runs inline: a saga's compensation, the testing Runner. It runs on
    the same loop as every other async step of the process, so clients a step module keeps
    (an ``httpx.AsyncClient``, a connection pool) stay on the loop they were made on.
    """
    loop = step_loop()
    if loop.in_loop_thread():
        coroutine.close()
        raise RuntimeError("an async step cannot be awaited synchronously from the step loop itself")
    return loop.submit(coroutine).result()
