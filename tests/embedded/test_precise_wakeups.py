"""Runs (and step branches) parked for a moment on a rate limit are woken by the worker process's precise wake-ups,
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


def test_rate_limited_branches_do_not_wait_for_the_timer_poller(slow_poller: flowgen.Engine) -> None:
    if slow_poller.embedded:
        pytest.skip("on Redis: a worker's path (the embedded engine's branches were not seen parked)")
    """250 all_of branches of the 100-a-second step: each parked branch's run is woken at its
    token's time by the process that saw it refused (the run's park, or the worker whose
    ``branch_begin`` was refused), not by the 30 s poller; the poller is not even told the due
    times of the timers this process parks runs on (it would fire them on time, behind the queue)."""
    slow_poller.runtime.timer_set = None
    wakeups = slow_poller.runtime.wakeups
    assert wakeups is not None
    run = slow_poller.start(apps.ping_fan, 250)
    assert run.result(timeout=25) == 250
    assert len(apps.STARTS) == 250
    assert wakeups.fired >= 1  # the parked branches' runs were woken by it (no inline step here)


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


def test_a_due_run_is_handed_to_a_busy_thread_ahead_of_the_queue() -> None:
    """Every worker thread busy: a due run is not enqueued behind the queue's backlog but handed
    to the next thread that takes a message; one no thread takes within HANDOFF is enqueued."""
    from flowgen.runtime.wakeups import HANDOFF

    enqueued: list[tuple[str, float]] = []
    wakeups = Wakeups(
        lambda run_ids: enqueued.extend((r, time.monotonic()) for r in run_ids), time.monotonic, 1
    )
    wakeups.start()
    try:
        with wakeups.working():  # the process's one thread is busy
            now = time.monotonic()
            wakeups.at("taken", now)
            wakeups.at("left", now + 0.01)
            deadline = time.monotonic() + 5
            taken = wakeups.take()
            while taken is None and time.monotonic() < deadline:
                taken = wakeups.take()
            assert taken == "taken"
            while not enqueued and time.monotonic() < deadline:
                time.sleep(0.005)
        assert [run_id for run_id, _ in enqueued] == ["left"]  # not taken: its message after all
        assert enqueued[0][1] >= now + 0.01 + HANDOFF
        wakeups.at("free", time.monotonic())  # a thread is free: enqueued at once, not handed over
        while len(enqueued) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert enqueued[1][0] == "free" and wakeups.take() is None
    finally:
        wakeups.stop()
