"""Workflows of the observability tests (tests/observability), run in real worker processes.

``observed(x)``: ``obs_double`` always; ``obs_explode`` (two failing attempts, then the run fails)
when ``x % 5 == 0``, else ``obs_increment``; a short sleep first when ``x % 10 == 1``. So 100 runs give
exact totals the metrics test checks: 20 fail, 80 complete, 10 sleep.
"""

from __future__ import annotations

import os

import redis

import flowgen

PIDS = "test:observed:pids"
"""The Redis set of the worker pids that ran ``obs_double`` (the ledger Redis of tests/conftest.py)."""


@flowgen.step(retries=0)
def obs_double(x: int) -> int:
    client = redis.Redis.from_url(os.environ["FLOWGEN_TEST_LEDGER_URL"])
    client.sadd(PIDS, os.getpid())
    client.close()
    return x * 2


@flowgen.step(retries=0)
def obs_increment(x: int) -> int:
    return x + 1


@flowgen.step(retries=flowgen.Retry(limit=1, delay=0.01, jitter=0))
def obs_explode(x: int) -> int:
    raise ValueError(f"explode({x})")


@flowgen.workflow
def observed(x: int):
    if x % 10 == 1:
        yield flowgen.sleep(0.05)
    doubled = yield obs_double(x)
    if x % 5 == 0:
        yield obs_explode(x)
    return (yield obs_increment(doubled))


@flowgen.workflow
def awaiting():
    """Waits for the event ``go`` and returns its payload."""
    payload = yield flowgen.wait_for_event("go", timeout=60)
    return payload


@flowgen.step(retries=flowgen.Retry(limit=1, delay=0.01, jitter=0))
def flaky_once(marker: list) -> str:
    marker.append(1)
    if len(marker) == 1:
        raise ConnectionError("first attempt fails")
    return "ok"
