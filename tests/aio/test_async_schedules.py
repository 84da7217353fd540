"""``AsyncEngine.schedules`` and ``AsyncEngine.on``: the sync engine's schedule calls and hooks,
reached from asyncio code on memory, SQLite and Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import flowgen
from tests.aio.test_async_engine import engine, url_and_workers  # noqa: F401 - the fixtures
from tests.apps import async_apps as apps

pytestmark = pytest.mark.asyncio


async def test_schedules_are_created_changed_triggered_and_deleted_as_on_the_sync_engine(
    engine: flowgen.AsyncEngine,  # noqa: F811
) -> None:
    created = await engine.schedules.create("nightly", apps.one_nap, cron="0 3 * * *", args=(0.0,))
    assert (created.name, created.cron, created.paused) == ("nightly", "0 3 * * *", False)
    assert [info.name for info in await engine.schedules.list()] == ["nightly"]
    assert (await engine.schedules.pause("nightly", note="maintenance")).paused
    assert engine.engine.schedules.get("nightly").note == "maintenance"  # the sync engine sees it
    assert not (await engine.schedules.resume("nightly")).paused
    assert (await engine.schedules.update("nightly", cron="30 4 * * *")).cron == "30 4 * * *"
    run = await engine.schedules.trigger("nightly")
    assert isinstance(run, flowgen.AsyncRun)
    assert (await run.result(timeout=30))["run_id"] == run.run_id
    assert [ran.run_id for ran in (await engine.schedules.get("nightly")).runs] == [run.run_id]
    await engine.schedules.delete("nightly")
    assert await engine.schedules.list() == []


async def test_schedule_errors_are_the_sync_engines_and_nothing_is_stored(
    engine: flowgen.AsyncEngine,  # noqa: F811
) -> None:
    with pytest.raises(flowgen.ScheduleNotFoundError, match="no schedule named 'missing'"):
        await engine.schedules.get("missing")
    with pytest.raises(flowgen.ScheduleError):
        await engine.schedules.create("bad", apps.one_nap, cron="not a cron", args=(0.0,))
    await engine.schedules.create("twice", apps.one_nap, every="1h", args=(0.0,))
    with pytest.raises(flowgen.ScheduleExistsError):
        await engine.schedules.create("twice", apps.one_nap, every="2h", args=(0.0,))
    assert [info.name for info in await engine.schedules.list()] == ["twice"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_hooks_registered_before_open_fire_in_the_embedded_engines_threads(
    kind: str, tmp_path: Any
) -> None:
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path}/hooks.db"
    client = flowgen.AsyncEngine(url, timer_interval=0.05)
    finished: list[str] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def completed(fact: Any) -> None:  # called on a worker thread, after the commit
        finished.append(fact.run_id)
        loop.call_soon_threadsafe(done.set)

    assert client.on("run.completed", completed) is completed
    async with client:
        run = await client.start(apps.one_nap, 0.0)
        await run.result(timeout=30)
        await asyncio.wait_for(done.wait(), timeout=30)
    assert finished == [run.run_id]


async def test_an_unknown_hook_event_is_refused_at_once() -> None:
    client = flowgen.AsyncEngine("memory://", start_workers=False)
    with pytest.raises(flowgen.ConfigurationError, match=r"unknown hook event 'run\.done'"):
        client.on("run.done", print)
    with pytest.raises(flowgen.ConfigurationError, match="needs a callable"):
        client.on("run.failed", "not callable")  # type: ignore[arg-type]
    await client.close()
