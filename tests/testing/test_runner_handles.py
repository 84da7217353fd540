"""Run handles of the runner behave like flowgen.Run: status, journal, events, lookups."""

from __future__ import annotations

import pytest

import flowgen
from flowgen.testing import Runner, RunnerRun
from tests.apps import runner_apps as apps


def test_handle_is_a_flowgen_run(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.order, "o-1", "sku", 1.0, run_id="order-1")

    assert isinstance(run, RunnerRun) and isinstance(run, flowgen.Run)
    info = run.status()
    assert (info.run_id, info.workflow, info.status, info.journal_length) == (
        "order-1",
        "testing.order",
        "completed",
        3,
    )
    assert flowgen_runner.get("order-1") == run


def test_get_of_an_unknown_run_raises(flowgen_runner: Runner) -> None:
    with pytest.raises(flowgen.RunNotFoundError):
        flowgen_runner.get("nope")


def test_runs_lists_the_runner_runs_by_status(flowgen_runner: Runner) -> None:
    flowgen_runner.start(apps.order, "o-2", "sku", 1.0, run_id="done")
    flowgen_runner.start(apps.trial, "ada", run_id="sleeping")

    assert [info.run_id for info in flowgen_runner.runs(status="waiting")] == ["sleeping"]
    assert [info.run_id for info in flowgen_runner.runs(workflow=apps.order)] == ["done"]


def test_runner_send_event_delivers_and_runs_on(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.race, "1 day")

    assert flowgen_runner.send_event(run.run_id, "paid", {"n": 1}) is True

    assert run.result()["value"] == {"n": 1}
    with pytest.raises(flowgen.RunFinishedError):
        run.send_event("paid", {"n": 2})


def test_a_duplicate_event_id_is_delivered_once(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.trial, "ada")

    assert run.send_event("approval", {"ok": True}, event_id="a-1") is True
    assert run.send_event("approval", {"ok": False}, event_id="a-1") is False
    flowgen_runner.advance("30 days")

    assert run.result()["status"] == "approved"


def test_waiting_on_describes_the_parked_command(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.race, "2 hours")

    description = run.waiting_on()

    assert description.startswith("at position 0 on any_of(event:paid, sleep:sleep), for: event 'paid'")
    assert "a sleep until" in description and "in 2h" in description
    run.send_event("paid", None)
    assert run.waiting_on() == ""
