"""Workflows the end-to-end tests run in real ``flowgen worker`` processes.

Steps record every execution in a side table (a Redis hash named by ``FLOWGEN_TEST_LEDGER``,
keyed by ``<run id>:<position>:<step>``) so tests can count how often each step body ran.
"""

from __future__ import annotations

import os

import redis

import flowgen

_ledger: redis.Redis | None = None


def ledger() -> redis.Redis:
    global _ledger
    if _ledger is None:
        _ledger = redis.Redis.from_url(os.environ["FLOWGEN_TEST_LEDGER_URL"])
    return _ledger


def record(step: str) -> None:
    context = flowgen.step_context()
    ledger().hincrby("test:executions", f"{context.run_id}:{context.position}:{step}", 1)


@flowgen.step(retries=0)
def double(x: int) -> int:
    record("double")
    return x * 2


@flowgen.step(retries=0)
def increment(x: int) -> int:
    record("increment")
    return x + 1


@flowgen.step(retries=0)
def describe(x: int) -> dict:
    record("describe")
    return {"value": x, "even": x % 2 == 0}


@flowgen.workflow(name="e2e.five_steps")
def five_steps(x: int):
    a = yield double(x)
    b = yield increment(a)
    c = yield double(b)
    d = yield increment(c)
    summary = yield describe(d)
    return summary


@flowgen.step(retries=0)
def slow_step(seconds: float) -> float:
    record("slow_step")
    import time

    time.sleep(seconds)
    return seconds


@flowgen.workflow(name="e2e.slow_then_fast")
def slow_then_fast(seconds: float):
    waited = yield slow_step(seconds)
    value = yield double(int(waited * 10))
    return value
