"""Under freezegun the runner's clock is the frozen time, and advance() moves freezegun's time too."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

import flowgen
from flowgen.testing import Runner
from tests.apps import runner_apps as apps

FROZEN = datetime(2024, 2, 28, 9, 30, tzinfo=timezone.utc)


@flowgen.workflow(name="testing.stamp")
def stamp():
    first = yield flowgen.now()
    yield flowgen.sleep("2 days")
    second = yield flowgen.now()
    return [first, second]


def test_runner_and_flowgen_now_agree_with_the_frozen_time(flowgen_runner: Runner) -> None:
    with freeze_time(FROZEN):
        assert flowgen_runner.now() == FROZEN
        run = flowgen_runner.start(stamp)
        assert run.journal()[0]["value"] == FROZEN
        assert run.status().created == FROZEN


def test_advance_moves_freezegun_time(flowgen_runner: Runner) -> None:
    with freeze_time(FROZEN):
        run = flowgen_runner.start(stamp)

        flowgen_runner.advance("2 days")

        assert datetime.now(timezone.utc) == FROZEN + timedelta(days=2)
        assert time.time() == pytest.approx((FROZEN + timedelta(days=2)).timestamp())
        assert run.result() == [FROZEN, FROZEN + timedelta(days=2)]


def test_freezegun_time_moved_by_the_test_moves_the_runner(flowgen_runner: Runner) -> None:
    with freeze_time(FROZEN) as frozen:
        run = flowgen_runner.start(stamp)
        frozen.tick(timedelta(days=3))

        assert flowgen_runner.now() == FROZEN + timedelta(days=3)
        flowgen_runner.advance(0)

        assert run.result() == [FROZEN, FROZEN + timedelta(days=3)]


@freeze_time("2025-01-01 00:00:00")
def test_freeze_time_decorator_with_the_fixture(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.trial, "dee")
    flowgen_runner.advance("30 days")
    flowgen_runner.advance("7 days")

    result = run.result()
    assert result["status"] == "expired"
    assert result["started"] == datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert result["reminded"] == datetime(2025, 1, 31, tzinfo=timezone.utc)
    assert datetime.now() == datetime(2025, 2, 7)


def test_ticking_freeze_time_works_too(flowgen_runner: Runner) -> None:
    with freeze_time(FROZEN, tick=True):
        run = flowgen_runner.start(stamp)
        flowgen_runner.advance("2 days")

        first, second = run.result()
        assert first - FROZEN < timedelta(seconds=5)
        assert second - first >= timedelta(days=2)
        assert datetime.now(timezone.utc) - FROZEN >= timedelta(days=2)


@flowgen.step(name="testing.spin", timeout=0.2, retries=0)
def spin() -> None:
    while True:
        pass


@flowgen.workflow(name="testing.spinner")
def spinner():
    try:
        yield spin()
    except flowgen.StepTimeoutError:
        return "interrupted"
    return "finished"


def test_step_timeouts_fire_under_frozen_time(flowgen_runner: Runner) -> None:
    with freeze_time(FROZEN):
        run = flowgen_runner.start(spinner)
        assert run.result() == "interrupted"
