"""``run.watch()`` and ``engine.watch()``: state changes as they happen, on every store.

The watches here poll only every 30 seconds, so a change seen within the test's timeout of a
few seconds came from a notification (Redis pub/sub, or the engine's own threads), except in
the test that watches another process's SQLite engine, which is the polling case.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import flowgen
from tests.apps import observed
from tests.conftest import wait_until

SLOW_POLL = 30.0


def watch_and_release(run: flowgen.Run) -> list[str]:
    """Watch a run of ``observed.awaiting``; send it ``go`` once it waits; return the statuses seen."""
    seen: list[str] = []
    for info in run.watch(timeout=15, interval=SLOW_POLL):
        seen.append(str(info.status))
        if info.status == "waiting":
            assert info.waiting_for == ("go",)
            run.send_event("go", {"n": 1})
    return seen


def assert_a_life(seen: list[str]) -> None:
    assert seen[-1] == "completed"
    assert "waiting" in seen
    order = ["queued", "running", "waiting", "running", "completed"]
    position = 0
    for status in seen:  # each status seen in the order a run lives them, no repeats in a row
        assert status in order[position:], seen
        position = order.index(status, position) + 1


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_run_watch_yields_each_state_change_of_an_embedded_run(url: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}" if url == "sqlite" else url
    with flowgen.Engine(url, tracing=False) as engine:
        run = engine.start(observed.awaiting)
        assert_a_life(watch_and_release(run))
        assert run.result(timeout=5) == {"n": 1}


@pytest.mark.redis
def test_run_watch_on_redis_is_nudged_by_pub_sub(redis_url: str, start_worker) -> None:
    start_worker("tests.apps.observed", threads=2)
    with flowgen.Engine(redis_url, tracing=False) as engine:
        run = engine.start(observed.awaiting)
        assert_a_life(watch_and_release(run))


def test_run_watch_of_another_process_s_sqlite_engine_polls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with flowgen.Engine(url, tracing=False) as workers, flowgen.Engine(url, start_workers=False) as client:
        run = client.start(observed.awaiting)
        seen = []
        for info in client.watch_run(run.run_id, timeout=15, interval=0.05):
            seen.append(str(info.status))
            if info.status == "waiting":
                workers.send_event(run.run_id, "go", 2)
        assert_a_life(seen)


def test_run_watch_times_out_naming_the_run() -> None:
    with flowgen.Engine("memory://", tracing=False) as engine:
        run = engine.start(observed.awaiting)
        with pytest.raises(flowgen.ResultTimeoutError, match=run.run_id):
            for _info in run.watch(timeout=0.2, interval=0.05):
                pass
        with pytest.raises(flowgen.RunNotFoundError):
            next(engine.watch_run("no-such-run"))


def collect(engine: flowgen.Engine, found: list, ready: threading.Event, **options) -> threading.Thread:
    """Watch in a thread until three changes are found (or 15 seconds have passed)."""

    def body() -> None:
        iterator = engine.watch(timeout=15, interval=SLOW_POLL, **options)
        ready.set()
        for info in iterator:
            found.append((info.run_id, str(info.status)))
            if len(found) == 3:
                return

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_engine_watch_yields_the_changes_of_every_run_filtered_by_status(kind: str, request) -> None:
    if kind == "redis":
        redis_url = request.getfixturevalue("redis_url")
        request.getfixturevalue("start_worker")("tests.apps.observed", threads=2)
        engine = flowgen.Engine(redis_url, tracing=False)
    else:
        engine = flowgen.Engine("memory://", tracing=False)
    with engine:
        found: list = []
        ready = threading.Event()
        thread = collect(engine, found, ready, status=["completed"], workflow=observed.awaiting)
        assert ready.wait(5)
        runs = [engine.start(observed.awaiting, run_id=f"watched-{n}") for n in range(3)]
        for run in runs:
            wait_until(lambda run=run: run.status().status == "waiting", 15, "the run to wait")
            run.send_event("go", 1)
        wait_until(lambda: len(found) >= 3, 15, "three completions")
        assert sorted(found) == [(f"watched-{n}", "completed") for n in range(3)]
        thread.join(15)


@pytest.mark.redis
@pytest.mark.parametrize("allowed", [True, False])
def test_engine_watch_on_redis_follows_the_channel_acl_of_its_user(redis_url: str, allowed: bool) -> None:
    """``engine.watch()`` subscribes to the pattern ``P:watch:{*}``: a user allowed it is nudged
    with the run id of each status change (one PUBLISH per change); a user allowed no channel
    gets a polling watch, not an error at its first wait (redis-py reads a refused subscription's
    reply only then)."""
    import redis

    from flowgen.observability import watch

    admin = redis.Redis.from_url(redis_url)
    name = f"watcher-{'allowed' if allowed else 'refused'}"
    admin.acl_setuser(
        name,
        enabled=True,
        passwords=["+pw"],
        categories=["+@all"],
        keys=["*"],
        channels=["flowgen-dramatiq*", *(["flowgen:watch:{*}"] if allowed else [])],  # the broker's doorbell
        reset_channels=True,
    )
    port = admin.connection_pool.connection_kwargs["port"]
    try:
        with flowgen.Engine(f"redis://{name}:pw@127.0.0.1:{port}/0", tracing=False) as engine:
            nudges = watch._nudges(engine, None)
            try:
                assert isinstance(nudges, watch._RedisNudges) is allowed
                run = engine.start(observed.awaiting, run_id=f"acl-{name}")
                if allowed:
                    assert nudges.wait(5) == [run.run_id]  # 'queued', from create.lua
                else:
                    assert nudges.wait(0.1) == []
            finally:
                nudges.close()
    finally:
        admin.acl_deluser(name)
