"""Step limits on step branches with real worker threads (SQLite, and Redis with an in-process
worker): all_of members and a ``queue=`` step limited to 2 executing attempts never run more
than 2 at once, wait for a slot without spending an attempt, and show what they wait for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import flowgen
from flowgen.web.views import why_not_moving
from tests.apps import flow_apps as apps
from tests.conftest import wait_until


@pytest.fixture(params=["sqlite", "redis"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[flowgen.Engine]:
    apps.RUNNING.update(now=0, max=0)
    apps.RELEASE.clear()
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        with flowgen.Engine(url, timer_interval=0.05) as redis_engine, redis_engine.worker(threads=8):
            yield redis_engine
            apps.RELEASE.set()  # a failed test must not leave attempts holding the worker's threads
    else:
        with flowgen.Engine(f"sqlite:///{tmp_path / 'flow.db'}", threads=8, timer_interval=0.05) as sqlite_engine:
            yield sqlite_engine
            apps.RELEASE.set()


def test_all_of_branches_of_a_limited_step_run_at_most_2_at_once(engine: flowgen.Engine) -> None:
    runs = [engine.start(apps.scarce_fan, 6) for _ in range(2)]
    for run in runs:
        assert run.result(timeout=60) == [0, 1, 2, 3, 4, 5]
    assert apps.RUNNING["max"] == 2  # the limit held, and did bind
    for run in runs:
        (entry,) = engine.journal(run.run_id)
        assert all(len(leaf["attempts"]) == 1 for leaf in entry["leaves"].values())  # waits cost nothing


def test_a_limited_queue_step_runs_at_most_2_at_once(engine: flowgen.Engine) -> None:
    runs = [engine.start(apps.uses_scarce_queued, index) for index in range(6)]
    assert sorted(run.result(timeout=60) for run in runs) == list(range(6))
    assert apps.RUNNING["max"] == 2
    assert all(len(engine.journal(run.run_id)[0]["attempts"]) == 1 for run in runs)


@pytest.mark.parametrize("waiter", ["branch", "inline"])
def test_a_run_waiting_for_a_step_slot_says_which_limit_and_its_place(engine: flowgen.Engine, waiter: str) -> None:
    # The holders keep both slots until the test releases them (a fixed time could run out
    # before the waiter reaches its attempt on a crowded machine).
    holding = engine.start(apps.slow_fan, 2, 120.0)
    wait_until(lambda: apps.RUNNING["now"] == 2, 30, "two attempts to hold the slots")
    waiting = engine.start(apps.slow_fan, 1, 0.0) if waiter == "branch" else engine.start(apps.uses_slow_scarce, 0.0)
    # The attempt joins the slot's line in one transaction and the run parks in the next: wait
    # for the parked state, or a status read between the two says "running".
    parked = wait_until(
        lambda: (info := waiting.status()).blocked_by and info.status == "waiting" and info,
        30,
        "the attempt to wait for a slot, its run parked",
    )
    assert parked.blocked_by == flowgen.BlockedBy("step:flow.slow_scarce", None, 2, 1)
    reasons = why_not_moving(engine, waiting.status())  # what the dashboard's run page says
    assert "a step waits for a slot of step limit step:flow.slow_scarce (at most 2 at once): place 1 in line" in reasons
    apps.RELEASE.set()
    assert holding.result(timeout=60) == [120.0, 120.0]
    waiting.result(timeout=60)
    assert waiting.status().blocked_by is None
