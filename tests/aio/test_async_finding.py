"""The async client's inspection calls (count, search filters, events, timeline, purge, watch) on
memory, SQLite and Redis: the sync engine's answers, reached without blocking the event loop."""

from __future__ import annotations

import itertools

import pytest

import flowgen
from tests.aio.support import Ticker
from tests.aio.test_async_engine import engine, url_and_workers  # noqa: F401 - the fixtures
from tests.apps import async_apps as apps

pytestmark = pytest.mark.asyncio


async def test_count_search_events_and_timeline_answer_as_the_sync_engine_does(
    engine: flowgen.AsyncEngine,  # noqa: F811
) -> None:
    tagged = await engine.start(apps.wait_for_approval, run_id="find-1", tags={"team": "ops"})
    other = await engine.start(apps.wait_for_approval, run_id="find-2", tags={"team": "web"})
    for run in (tagged, other):
        await run.wait_for_status("waiting", timeout=30)
    assert await engine.count(workflow=apps.wait_for_approval) == {"waiting": 2}
    assert await engine.count(tags={"team": "ops"}) == {"waiting": 1}
    found = await engine.runs(tags={"team": "ops"})
    assert [info.run_id for info in found] == ["find-1"]
    assert found == engine.engine.runs(tags={"team": "ops"})  # the sync engine's own answer
    assert await tagged.events() == []
    await engine.send_event("find-2", "other-type", {"n": 1}, event_id="ev-1")  # buffered, not waited for
    (event,) = await other.events()
    assert (event["type"], event["id"], event["payload"]) == ("other-type", "ev-1", {"n": 1})
    timeline = await other.timeline()
    assert timeline == engine.engine.timeline("find-2")
    assert timeline["run_id"] == "find-2"


async def test_watch_yields_each_state_until_the_run_finishes_and_the_loop_keeps_running(
    engine: flowgen.AsyncEngine,  # noqa: F811
) -> None:
    run = await engine.start(apps.wait_for_approval, run_id="watched")
    await run.wait_for_status("waiting", timeout=30)
    seen: list[str] = []

    async def watch() -> None:
        async for info in run.watch(timeout=60, interval=0.05):
            seen.append(str(info.status))
            if info.status == flowgen.RunStatus.WAITING:
                await engine.send_event("watched", "approved", {"by": "ana"})

    ticker = Ticker()
    await ticker.around(watch())
    assert seen[0] == "waiting" and seen[-1] == "completed"
    assert all(a != b for a, b in itertools.pairwise(seen)), seen  # a state is reported once, not per poll
    assert ticker.ticks >= 1


async def test_watch_times_out_and_a_missing_run_is_refused(engine: flowgen.AsyncEngine) -> None:  # noqa: F811
    run = await engine.start(apps.wait_for_approval)
    await run.wait_for_status("waiting", timeout=30)
    with pytest.raises(flowgen.ResultTimeoutError):
        async for _ in run.watch(timeout=0.2, interval=0.05):
            pass
    with pytest.raises(flowgen.RunNotFoundError):
        async for _ in engine.watch("no-such-run"):
            pass


async def test_purge_deletes_finished_runs_and_dry_run_only_names_them(
    engine: flowgen.AsyncEngine,  # noqa: F811
) -> None:
    done = await engine.start(apps.one_nap, 0.0)
    await done.result(timeout=30)
    waiting = await engine.start(apps.wait_for_approval)
    await waiting.wait_for_status("waiting", timeout=30)
    assert await engine.purge("0s", dry_run=True) == [done.run_id]
    assert (await done.status()).run_id == done.run_id  # still there after the dry run
    assert await engine.purge("0s") == [done.run_id]
    with pytest.raises(flowgen.RunNotFoundError):
        await done.status()
    assert (await waiting.status()).status == flowgen.RunStatus.WAITING  # not finished: kept
