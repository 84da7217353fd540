"""Async steps in real ``flowgen worker`` processes on a real ``redis-server``."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

import flowgen
from tests.aio.support import Ticker
from tests.apps import async_apps as apps
from tests.conftest import wait_until

pytestmark = pytest.mark.redis

MODULE = "tests.apps.async_apps"


def test_a_worker_with_two_threads_awaits_1000_steps_at_once(
    redis_url: str, start_worker: Callable[..., Any]
) -> None:
    """1,000 runs whose step waits until all 1,000 await together: 1,000 coroutines, 2 threads."""
    start_worker(MODULE, threads=2)
    with flowgen.Engine(redis_url) as engine:
        runs = engine.start_many(apps.meeting, [((1000,), None, None) for _ in range(1000)]).runs
        results = [run.result(timeout=120) for run in runs]
    assert min(results) >= 1000


def test_a_timeout_cancels_the_coroutine_in_a_worker(
    redis_url: str, start_worker: Callable[..., Any]
) -> None:
    start_worker(MODULE, threads=2)
    with flowgen.Engine(redis_url) as engine:
        message = engine.start(apps.times_out).result(timeout=30)
        assert "coroutine was cancelled" in message
        retried = engine.start(apps.timeout_flow, 30.0)
        assert retried.result(timeout=30) == 2
        assert [a["status"] for a in retried.journal()[0]["attempts"]] == ["timeout", "ok"]


def test_mixed_and_parallel_workflows_in_a_worker(redis_url: str, start_worker: Callable[..., Any]) -> None:
    start_worker(MODULE, threads=2)
    with flowgen.Engine(redis_url) as engine:
        assert engine.start(apps.mixed, 3).result(timeout=30) == 14
        outcome = engine.start(apps.parallel_naps, 20, 0.2).result(timeout=30)
        assert outcome["positions"] == [f"1/{i}" for i in range(20)]


def test_sigterm_waits_for_the_async_steps_in_flight(
    redis_url: str, start_worker: Callable[..., Any]
) -> None:
    worker = start_worker(MODULE, threads=2)
    ledger = redis.Redis.from_url(redis_url)
    with flowgen.Engine(redis_url) as engine:
        runs = engine.start_many(apps.noted_nap_flow, [((1.5,), None, None) for _ in range(20)]).runs

        def all_started() -> bool:
            return len(ledger.hkeys("test:executions")) == 20

        wait_until(all_started, 30, "the 20 naps to start in the worker")
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=30) == 0
        # The stopped worker finished and reported every nap it had started: the next worker
        # finds 20 reports, not 20 expired heartbeats (which it would record as crashed
        # attempts and run again).
        start_worker(MODULE, threads=2)
        for run in runs:
            assert run.result(timeout=30)["thread"] == "flowgen-step-loop"
            assert [a["status"] for a in run.journal()[0]["attempts"]] == ["ok"]
        assert sorted(int(v) for v in ledger.hvals("test:executions")) == [1] * 20
    ledger.close()


def test_async_steps_limits_the_attempts_a_worker_awaits_at_once(
    redis_url: str, start_worker: Callable[..., Any]
) -> None:
    start_worker(MODULE, threads=2, args=["--async-steps", "5"])
    with flowgen.Engine(redis_url) as engine:
        runs = engine.start_many(apps.noted_nap_flow, [((1.0,), None, None) for _ in range(20)]).runs
        results = [run.result(timeout=60) for run in runs]
    assert max(result["most"] for result in results) == 5


def test_a_worker_killed_during_async_steps_loses_them_like_sync_ones(
    redis_url: str, start_worker: Callable[..., Any]
) -> None:
    """kill -9 with naps in flight: the next worker records each attempt as crashed and runs it again."""
    options = ["--lease-ttl", "1", "--grace", "1", "--reconcile-interval", "0.5"]
    worker = start_worker(MODULE, threads=2, args=options)
    ledger = redis.Redis.from_url(redis_url)
    with flowgen.Engine(redis_url, lease_ttl=1, grace=1) as engine:
        runs = engine.start_many(apps.noted_nap_flow, [((1.0,), None, None) for _ in range(5)]).runs
        wait_until(lambda: len(ledger.hkeys("test:executions")) == 5, 30, "the 5 naps to start")
        worker.kill()
        start_worker(MODULE, threads=2, args=options)
        for run in runs:
            assert run.result(timeout=60)["thread"] == "flowgen-step-loop"
            assert [a["status"] for a in run.journal()[0]["attempts"]] == ["crashed", "ok"]
    assert sorted(int(v) for v in ledger.hvals("test:executions")) == [2] * 5
    ledger.close()


@pytest.mark.asyncio
async def test_async_engine_awaits_100_results_from_a_worker_process_without_blocking_its_loop(
    redis_url: str, start_worker: Callable[..., Any]
) -> None:
    start_worker(MODULE, threads=2)
    async with flowgen.AsyncEngine(redis_url) as engine:
        started = await engine.start_many(apps.one_nap, [((1.5,), None, None) for _ in range(100)])
        assert len(started.created) == 100 and not started.existing
        runs = started.runs
        ticker = Ticker()
        started = time.monotonic()
        results = await ticker.around(asyncio.gather(*(run.result(timeout=60) for run in runs)))
        waited = time.monotonic() - started
        assert [result["run_id"] for result in results] == [run.run_id for run in runs]
        assert ticker.ticks >= 20 and ticker.longest_gap < waited / 2, (
            ticker.ticks,
            ticker.longest_gap,
            waited,
        )
        assert (await runs[0].status()).status == flowgen.RunStatus.COMPLETED
