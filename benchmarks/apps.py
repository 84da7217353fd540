"""The workflows the benchmark runs in ``flowgen worker benchmarks.apps`` processes.

Every step is a no-op, so the figures measure the engine (journal writes, messages,
replay) and not the work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import Any

import flowgen


@flowgen.step(retries=0)
def noop(index: int) -> None:
    """Do nothing: the benchmark measures what a step boundary costs the engine."""


@flowgen.workflow(name="bench.three_steps")
def three_steps() -> Generator[Any, Any, int]:
    """Three inline no-op steps: the throughput and latency workflow."""
    yield noop(0)
    yield noop(1)
    yield noop(2)
    return 3


@flowgen.workflow(name="bench.k_steps")
def k_steps(k: int) -> Generator[Any, Any, int]:
    """``k`` inline no-op steps: the per-step cost workflow."""
    for index in range(k):
        yield noop(index)
    return k


@flowgen.workflow(name="bench.sleeper")
def sleeper(seconds: float) -> Generator[Any, Any, float]:
    """Sleep on a durable timer, then journal the time it woke (lateness = woke - due)."""
    yield flowgen.sleep(seconds)
    woke = yield flowgen.now()
    return float(woke.timestamp())


@flowgen.step(retries=0, queue="flowgen")
def noop_dispatched(index: int) -> None:
    """A no-op step sent as its own message: the run parks, and resumes when the step reports."""


@flowgen.workflow(name="bench.k_dispatched")
def k_dispatched(k: int) -> Generator[Any, Any, int]:
    """``k`` steps that each park the run: every resume reuses the parked generator or replays."""
    for index in range(k):
        yield noop_dispatched(index)
    return k


@flowgen.workflow(
    name="bench.three_steps_keyed",
    concurrency=flowgen.Limit(1_000_000, key=lambda index, **_: f"k{index % 100}"),
)
def three_steps_keyed(index: int) -> Generator[Any, Any, int]:
    """``three_steps`` under a per-key run limit that never binds (100 keys, a million each)."""
    yield noop(0)
    yield noop(1)
    yield noop(2)
    return index


@flowgen.workflow(name="bench.three_steps_indexed")
def three_steps_indexed(index: int) -> Generator[Any, Any, int]:
    """``three_steps`` with the same argument as ``three_steps_keyed``: the no-limit baseline."""
    yield noop(0)
    yield noop(1)
    yield noop(2)
    return index


RATE = 200
"""Attempts per second the rate-limited step allows (issue 15's figure)."""

_starts: list[Any] = []


def _record_start() -> None:
    """Append this attempt's start time to ``bench:rated:starts`` on the benchmark's Redis."""
    import os
    import time

    import redis

    if not _starts:
        _starts.append(redis.Redis.from_url(os.environ["FLOWGEN_BENCH_REDIS_URL"]))
    _starts[0].rpush("bench:rated:starts", repr(time.time()))


@flowgen.step(retries=0, rate_limit=flowgen.RateLimit(RATE, per="1s"))
def rated_noop() -> None:
    """A no-op step limited to ``RATE`` attempt starts per second across all workers."""
    _record_start()


@flowgen.workflow(name="bench.rated")
def rated() -> Generator[Any, Any, int]:
    """One rate-limited step."""
    yield rated_noop()
    return 1


# -- the asyncio phase (python -m benchmarks.asyncio_steps) ---------------------------------------


@flowgen.step(retries=0)
async def await_sleep(seconds: float) -> None:
    """Await ``seconds`` on the step loop: a stand-in for an I/O call that takes that long."""
    await asyncio.sleep(seconds)


@flowgen.workflow(name="bench.async_sleep")
def async_sleep(seconds: float) -> Generator[Any, Any, None]:
    """One async step that awaits ``asyncio.sleep(seconds)``."""
    yield await_sleep(seconds)


_http: Any = None


@flowgen.step(retries=0)
async def fetch(url: str) -> int:
    """GET ``url`` with one ``aiohttp.ClientSession`` per worker process (made on the step loop).

    aiohttp rather than httpx: httpx 0.28's connection pool slows down sharply with hundreds
    of connections in flight (1,000 concurrent GETs straight to the server took 35-45 s with
    it, 0.3-0.8 s with aiohttp), and the point here is 1,000 requests awaiting at once.
    """
    global _http
    if _http is None:
        import aiohttp

        _http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # no pool limit (default 100)
    async with _http.get(url) as response:
        response.raise_for_status()
        await response.read()
        return int(response.status)


@flowgen.workflow(name="bench.async_http")
def async_http(url: str) -> Generator[Any, Any, int]:
    """One async step that calls a real local HTTP server."""
    status = yield fetch(url)
    return int(status)


@flowgen.step(retries=0)
def blocking_sleep(seconds: float) -> None:
    """The thread-bound baseline: the same wait in a sync step holds a worker thread."""
    time.sleep(seconds)


@flowgen.workflow(name="bench.sync_sleep")
def sync_sleep(seconds: float) -> Generator[Any, Any, None]:
    """One sync step that sleeps ``seconds`` in its worker thread."""
    yield blocking_sleep(seconds)
