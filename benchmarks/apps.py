"""The workflows the benchmark runs in ``flowgen worker benchmarks.apps`` processes.

Every step is a no-op, so the figures measure the engine (journal writes, messages,
replay) and not the work.
"""

from __future__ import annotations

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
