"""Runs parked for a moment on a rate limit are woken by the worker process's precise wake-ups,
not by the timer poller: with a poller that looks every 30 s, 250 attempts of a step limited to
100 a second still finish in seconds (SQLite, and Redis with an in-process worker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowgen
from flowgen.runtime.wakeups import Wakeups
from tests.apps import flow_apps as apps


@pytest.fixture(params=["sqlite", "redis"])
def slow_poller(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[flowgen.Engine]:
    apps.STARTS.clear()
    apps.CLOCK[0] = time.time
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        with flowgen.Engine(url, timer_interval=30) as engine, engine.worker(threads=4):
            yield engine
    else:
        with flowgen.Engine(f"sqlite:///{tmp_path / 'flow.db'}", threads=4, timer_interval=30) as engine:
            yield engine


def test_rate_limited_waits_do_not_wait_for_the_timer_poller(slow_poller: flowgen.Engine) -> None:
    run = slow_poller.start(apps.pings, 250)
    assert run.result(timeout=25) == 250  # the poller alone would take 30 s per wait
    assert len(apps.STARTS) == 250  # one attempt each


def test_wakeups_enqueue_each_run_at_its_time_in_order() -> None:
    woken: list[tuple[str, float]] = []
    done = threading.Event()

    def enqueue(run_ids: object) -> None:
        woken.extend((run_id, time.monotonic()) for run_id in run_ids)  # type: ignore[attr-defined]
        if len(woken) == 3:
            done.set()

    wakeups = Wakeups(enqueue, time.monotonic)
    wakeups.start()
    try:
        now = time.monotonic()
        wakeups.at("late", now + 0.3)
        wakeups.at("soon", now + 0.1)
        wakeups.at("now", now)
        assert done.wait(10)
    finally:
        wakeups.stop()
    assert [run_id for run_id, _ in woken] == ["now", "soon", "late"]
    assert woken[1][1] >= now + 0.1 and woken[2][1] >= now + 0.3  # never early
