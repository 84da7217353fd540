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
