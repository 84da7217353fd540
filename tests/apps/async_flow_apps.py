"""Async steps under flow control (tests/aio/test_async_limits.py): a step limited to 2
executing attempts, run inline, as all_of branches and on its own queue, counting how many of
its attempts are in their body at once (only the step loop's thread touches the counts)."""

from __future__ import annotations

import asyncio
from typing import Any

import flowgen

IN_BODY: dict[str, int] = {"now": 0, "max": 0}


def reset() -> None:
    IN_BODY.update(now=0, max=0)


async def _hold(index: int) -> int:
    IN_BODY["now"] += 1
    IN_BODY["max"] = max(IN_BODY["max"], IN_BODY["now"])
    try:
        await asyncio.sleep(0.1)
    finally:
        IN_BODY["now"] -= 1
    return index


@flowgen.step(name="aioflow.scarce", concurrency=flowgen.Limit(2))
async def scarce(index: int) -> int:
    return await _hold(index)


@flowgen.step(name="aioflow.scarce_queued", queue="aioflow-gpu", concurrency=flowgen.Limit(2))
async def scarce_queued(index: int) -> int:
    return await _hold(index)


@flowgen.step(name="aioflow.paced", rate_limit=flowgen.RateLimit(5, per="1s"))
async def paced(index: int) -> int:
    return index


@flowgen.workflow(name="aioflow.inline")
def inline(index: int) -> Any:
    return (yield scarce(index))


@flowgen.workflow(name="aioflow.fan")
def fan(count: int) -> Any:
    return (yield flowgen.all_of(*(scarce(index) for index in range(count))))


@flowgen.workflow(name="aioflow.queued")
def queued(index: int) -> Any:
    return (yield scarce_queued(index))


@flowgen.workflow(name="aioflow.paced_fan")
def paced_fan(count: int) -> Any:
    return (yield flowgen.all_of(*(paced(index) for index in range(count))))
