"""Virtual time: sleeps, timers firing in order, event waits with timeouts, all driven by advance()."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

import flowgen
from flowgen.testing import RunBlockedError, Runner, call
from tests.apps import runner_apps as apps


def test_a_30_day_sleep_completes_in_under_a_second_of_wall_time() -> None:
    started = time.perf_counter()
    with Runner() as runner:
        runner.mock(apps.notify, returns="sent")
        run = runner.start(apps.trial, "ada")
        runner.advance("30 days")
        runner.advance("7 days")
        assert run.result()["status"] == "expired"
    assert time.perf_counter() - started < 1.0


def test_sleep_does_not_end_before_its_due_time(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.trial, "ada")

    flowgen_runner.advance(timedelta(days=30) - timedelta(seconds=1))
    assert flowgen_runner.calls(apps.notify) == []
    assert run.journal()[-1]["kind"] == "value"

    flowgen_runner.advance(1)
    assert flowgen_runner.calls(apps.notify) == [call(apps.notify, "email", "trial of ada ended")]


def test_approval_within_the_timeout_approves(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.trial, "ada")
    flowgen_runner.advance("30 days")
    flowgen_runner.advance("6 days")

    assert run.send_event("approval", {"ok": True}) is True

    result = run.result()
    assert result["status"] == "approved"
    assert result["reminded"] - result["started"] == timedelta(days=30)
    assert flowgen_runner.next_timer() is None


def test_no_approval_within_the_timeout_expires(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.trial, "bob")
    flowgen_runner.advance("30 days")
    flowgen_runner.advance(timedelta(days=7) - timedelta(milliseconds=1))
    assert run.status().status == "waiting"

    flowgen_runner.advance("1ms")

    assert run.result()["status"] == "expired"
    assert flowgen_runner.calls(apps.notify)[-1] == call(apps.notify, "email", "bob never answered")
    timeout_entry = run.journal()[-2]
    assert timeout_entry["kind"] == "event" and timeout_entry["ok"] is False
    assert "EventTimeoutError" in timeout_entry["error"]["type"]


def test_an_event_sent_before_the_wait_is_buffered(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.trial, "cy")

    run.send_event("approval", {"ok": False})
    assert run.status().status == "waiting"
    flowgen_runner.advance("30 days")

    assert run.result()["status"] == "rejected"


def test_one_advance_fires_every_due_timer_at_its_own_time(flowgen_runner: Runner) -> None:
    start = flowgen_runner.now().timestamp()
    run = flowgen_runner.start(apps.clock_reader, 3600, 7200)

    flowgen_runner.advance("1 day")

    before, between, after = run.result()
    assert before == pytest.approx(start)
    assert between == pytest.approx(start + 3600)
    assert after == pytest.approx(start + 3600 + 7200)
    assert flowgen_runner.now().timestamp() == pytest.approx(start + 86400)


def test_advance_to_a_datetime_and_next_timer(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.clock_reader, 60, 60)
    due = flowgen_runner.next_timer()
    assert due is not None
    assert (due - flowgen_runner.now()).total_seconds() == pytest.approx(60, abs=1e-5)

    flowgen_runner.advance_to(due)
    assert len(run.journal()) == 3
    with pytest.raises(RunBlockedError, match="a sleep until"):
        run.result()

    flowgen_runner.advance_to(flowgen_runner.now() + timedelta(minutes=1))
    assert len(run.result()) == 3


def test_runner_starts_at_the_time_it_is_given() -> None:
    moment = datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc)
    with Runner(start=moment) as runner:
        run = runner.start(apps.clock_reader, 1, 1)
        runner.advance(2)
        assert run.result()[0] == moment.timestamp()


def test_advance_accepts_what_flowgen_accepts_and_rejects_the_rest(flowgen_runner: Runner) -> None:
    start = flowgen_runner.now()
    flowgen_runner.advance("1h30m")
    flowgen_runner.advance(timedelta(minutes=30))
    flowgen_runner.advance(60)
    assert flowgen_runner.now() - start == timedelta(hours=2, minutes=1)
    with pytest.raises(ValueError, match="advance duration"):
        flowgen_runner.advance("soon")
    with pytest.raises(ValueError, match="must not be negative"):
        flowgen_runner.advance(-5)


@flowgen.workflow(name="testing.sleep_until_date")
def sleep_until_date(when: float):
    yield flowgen.sleep_until(when)
    return (yield flowgen.now()).timestamp()


def test_sleep_until_wakes_at_the_given_moment(flowgen_runner: Runner) -> None:
    wake = flowgen_runner.now() + timedelta(days=90)
    run = flowgen_runner.start(sleep_until_date, wake.timestamp())

    flowgen_runner.advance("89 days")
    assert run.status().status == "waiting"
    flowgen_runner.advance("2 days")

    assert run.result() == pytest.approx(wake.timestamp())
