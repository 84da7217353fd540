"""``flowgen.AsyncEngine`` on memory, SQLite and Redis: every operation, and an event loop that keeps running.

The loop-tick test is the point of the async client: while 100 results are awaited, a ticker
task on the same loop must keep running (a sync ``run.result()`` called from the loop would
freeze it for the whole wait: ``test_the_sync_client_would_freeze_the_loop`` shows the test
can tell).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

import flowgen
from tests.aio.support import Ticker
from tests.apps import async_apps as apps

T = TypeVar("T")

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["memory", "sqlite", "redis"])
def url_and_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An engine URL whose runs are advanced (Redis: by worker threads of a sync engine here)."""
    apps.reset()
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/runs.db"
    else:
        url = request.getfixturevalue("redis_url")
        with flowgen.Engine(url) as engine, engine.worker(threads=4):
            yield url


@pytest_asyncio.fixture
async def engine(url_and_workers: str) -> AsyncIterator[flowgen.AsyncEngine]:
    async with flowgen.AsyncEngine(url_and_workers, timer_interval=0.05) as client:
        yield client


async def test_awaiting_100_results_never_blocks_the_loop(engine: flowgen.AsyncEngine) -> None:
    runs = [await engine.start(apps.one_nap, 1.5) for _ in range(100)]
    ticker = Ticker()
    started = time.monotonic()
    results = await ticker.around(asyncio.gather(*(run.result(timeout=60) for run in runs)))
    waited = time.monotonic() - started
    assert [result["run_id"] for result in results] == [run.run_id for run in runs]
    assert waited >= 1.0  # there was a real wait to tick through
    assert ticker.ticks >= 20, (ticker.ticks, waited)
    assert ticker.longest_gap < waited / 2, (ticker.longest_gap, waited)


async def test_the_sync_client_would_freeze_the_loop(url_and_workers: str) -> None:
    """The same measurement with the sync ``Run.result()`` on the loop: the ticker stalls."""
    with flowgen.Engine(url_and_workers, timer_interval=0.05) as sync_engine:
        run = sync_engine.start(apps.one_nap, 0.6)
        ticker = Ticker()

        async def blocking() -> Any:
            return run.result(timeout=60)

        started = time.monotonic()
        await ticker.around(blocking())
        waited = time.monotonic() - started
        assert ticker.longest_gap >= waited / 2


async def test_start_is_idempotent_on_run_id_and_status_and_listing_read_the_run(
    engine: flowgen.AsyncEngine,
) -> None:
    first = await engine.start(apps.mixed, 5, run_id="order-1")
    again = await engine.start(apps.mixed, 5, run_id="order-1")
    assert first == again and first.run_id == "order-1"
    assert await first.result(timeout=30) == 22
    info = await first.status()
    assert info.status == flowgen.RunStatus.COMPLETED and info.output == 22
    listed = await engine.runs(status="completed", workflow=apps.mixed)
    assert [item.run_id for item in listed] == ["order-1"]
    assert [entry["name"] for entry in await first.journal()] == [
        "sync_double",
        "async_increment",
        "sync_double",
    ]
    with pytest.raises(flowgen.RunIdConflictError):
        await engine.start(apps.mixed, 6, run_id="order-1")


async def test_send_event_wakes_a_waiting_run(engine: flowgen.AsyncEngine) -> None:
    run = await engine.start(apps.wait_for_approval, run_id="approval-1")
    await run.wait_for_status("waiting", timeout=30)
    assert await engine.send_event("approval-1", "approved", {"by": "ana"}, event_id="e-1")
    assert await run.result(timeout=30) == {"by": "ana"}


async def test_control_pause_resume_and_cancel(engine: flowgen.AsyncEngine) -> None:
    waiting = await engine.start(apps.wait_for_approval)
    await waiting.wait_for_status("waiting", timeout=30)
    paused = await waiting.pause()
    assert paused.status in (flowgen.RunStatus.PAUSED, flowgen.RunStatus.WAITING)
    await waiting.wait_for_status("paused", timeout=30)
    await waiting.resume()
    await waiting.wait_for_status("waiting", timeout=30)
    await waiting.cancel()
    with pytest.raises(flowgen.WorkflowCancelledError):
        await waiting.result(timeout=30)


async def test_a_failed_run_raises_and_can_be_retried(engine: flowgen.AsyncEngine) -> None:
    run = await engine.start(apps.flaky_flow, 5)
    with pytest.raises(flowgen.WorkflowFailedError) as caught:
        await run.result(timeout=30)
    assert isinstance(caught.value.__cause__, ConnectionError)
    retried = await run.retry()
    # The step fails on its first 5 attempts in all: attempts 4 and 5 fail again, the 6th succeeds.
    assert await retried.result(timeout=30) == 6
    assert len(await run.history()) == 1


async def test_bad_input_and_missing_runs_get_clear_errors(engine: flowgen.AsyncEngine) -> None:
    with pytest.raises(flowgen.RunNotFoundError, match="no-such-run"):
        await engine.get("no-such-run").status()
    with pytest.raises(flowgen.RunNotFoundError):
        await engine.get("no-such-run").result(timeout=1)
    with pytest.raises(ValueError, match="timeout"):
        await engine.get("no-such-run").result(timeout=-1)
    with pytest.raises(flowgen.InvalidRunIdError):
        await engine.start(apps.mixed, 1, run_id="bad id with spaces")
    run = await engine.start(apps.wait_for_approval)
    with pytest.raises(flowgen.ResultTimeoutError, match=r"did not finish within 0\.05s"):
        await run.result(timeout=0.05)


async def test_unknown_options_are_refused_when_the_engine_is_made() -> None:
    with pytest.raises(TypeError, match=r"arguments of flowgen\.Engine.*retenton"):
        flowgen.AsyncEngine("memory://", retenton=5)


async def test_a_closed_engine_refuses_calls() -> None:
    client = flowgen.AsyncEngine("memory://")
    await client.close()
    with pytest.raises(flowgen.FlowgenError, match="closed"):
        await client.start(apps.mixed, 1)


async def test_from_engine_shares_an_open_engine_and_leaves_it_open(tmp_path: Path) -> None:
    with flowgen.Engine(f"sqlite:///{tmp_path}/shared.db") as sync_engine:
        async with flowgen.AsyncEngine.from_engine(sync_engine) as client:
            run = await client.start(apps.mixed, 1)
            assert await run.result(timeout=30) == 6
        assert sync_engine.get(run.run_id).result(timeout=5) == 6  # still open
