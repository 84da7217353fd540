"""The runner runs steps through the production runtime: results, failures, retries, timeouts."""

from __future__ import annotations

import time

import pytest

import flowgen
from flowgen.testing import RunBlockedError, Runner, RunnerError, call
from tests.apps import runner_apps as apps


@pytest.fixture(autouse=True)
def _clear_shipped() -> None:
    apps.SHIPPED.clear()


def test_start_runs_inline_steps_to_completion(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.order, "o-1", "sku-9", 12.5)

    assert run.status().status == "completed"
    assert run.result() == {"reservation": "res-sku-9-1", "payment": "pay-o-1", "shipment": "ship-o-1"}
    assert apps.SHIPPED == ["o-1"]


def test_journal_lists_one_readable_entry_per_step(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.order, "o-2", "sku-1", 3.0)

    journal = run.journal()

    assert [(entry["pos"], entry["kind"], entry["name"]) for entry in journal] == [
        (0, "step", "testing.reserve"),
        (1, "step", "testing.charge"),
        (2, "step", "testing.ship"),
    ]
    assert journal[1]["value"] == {"id": "pay-o-2", "amount": 3.0}
    assert all(entry["ok"] for entry in journal)


def test_start_is_idempotent_on_run_id(flowgen_runner: Runner) -> None:
    first = flowgen_runner.start(apps.order, "o-3", "sku-1", 1.0, run_id="order-o-3")
    second = flowgen_runner.start(apps.order, "o-3", "sku-1", 1.0, run_id="order-o-3")

    assert first == second
    assert apps.SHIPPED == ["o-3"]
    with pytest.raises(flowgen.RunIdConflictError):
        flowgen_runner.start(apps.order, "o-4", "sku-1", 1.0, run_id="order-o-3")


def test_failed_retry_waits_for_virtual_time(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.charge, side_effect=[ConnectionError("gateway down"), {"id": "pay-late"}])

    run = flowgen_runner.start(apps.order_with_fallback, "o-5", 20.0)

    assert run.status().status == "waiting"
    assert len(flowgen_runner.calls(apps.charge)) == 1
    flowgen_runner.advance("9s")
    assert len(flowgen_runner.calls(apps.charge)) == 1
    flowgen_runner.advance("1s")
    assert run.result() == {"status": "paid", "payment": "pay-late"}
    attempts = run.journal()[0]["attempts"]
    assert [a["status"] for a in attempts] == ["error", "ok"]
    assert attempts[1]["started"] - attempts[0]["finished"] == pytest.approx(10.0)


def test_retries_exhausted_reach_the_workflow(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.charge, raises=ConnectionError("gateway down"))

    run = flowgen_runner.start(apps.order_with_fallback, "o-6", 20.0)
    flowgen_runner.advance("1 minute")

    assert run.result() == {"status": "payment_failed", "attempts": 3}
    assert flowgen_runner.calls(apps.charge) == [call(apps.charge, "o-6", 20.0)] * 3


def test_uncaught_step_failure_fails_the_run(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.ship, raises=ValueError("no carrier"))

    run = flowgen_runner.start(apps.order, "o-7", "sku-1", 1.0)

    assert run.status().status == "failed"
    with pytest.raises(flowgen.WorkflowFailedError) as failed:
        run.result()
    assert isinstance(failed.value.__cause__, ValueError)
    assert str(failed.value.__cause__) == "no carrier"
    assert run.status().error is not None and run.status().error.type == "builtins.ValueError"


def test_non_retryable_error_skips_the_retries(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.charge, raises=flowgen.NonRetryableError("card declined"))

    run = flowgen_runner.start(apps.order, "o-8", "sku-1", 1.0)

    assert run.status().status == "failed"
    assert len(flowgen_runner.calls(apps.charge)) == 1
    assert flowgen_runner.next_timer() is None


@flowgen.step(name="testing.slow", timeout="0.05s", retries=0)
def slow() -> str:
    """Spin (not sleep: the watchdog interrupts Python bytecode) until interrupted, for at most 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pass
    return "not interrupted"


@flowgen.workflow(name="testing.uses_slow")
def uses_slow():
    try:
        return (yield slow())
    except flowgen.StepTimeoutError as error:
        return f"timed out: {error}"


def test_step_timeout_interrupts_the_step_as_in_production(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(uses_slow)

    assert run.result().startswith("timed out: step 'testing.slow' attempt 1 ran longer than its timeout")
    assert run.journal()[0]["attempts"][0]["status"] == "timeout"


def test_result_of_a_blocked_run_raises_at_once_and_says_why(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.trial, "ada")

    started = time.monotonic()
    with pytest.raises(RunBlockedError) as blocked:
        run.result(timeout=60)
    assert time.monotonic() - started < 1

    message = str(blocked.value)
    assert "has not finished (waiting): it waits at position 1 for a sleep until" in message
    assert "in 30d" in message
    assert "runner.advance(" in message and "send_event(" in message
    assert blocked.value.status == "waiting"


def test_result_of_a_run_waiting_for_an_event_names_the_event(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.trial, "bob")
    flowgen_runner.advance("30 days")

    with pytest.raises(RunBlockedError, match=r"event 'approval', timing out at .* in 7d"):
        run.result()
    assert run.status().waiting_for == ("approval",)
    with pytest.raises(RunBlockedError, match="is waiting, not completed"):
        run.wait_for_status("completed")
    assert run.wait_for_status("waiting").status == "waiting"


@flowgen.workflow(name="testing.unknown_step")
def unknown_step():
    yield flowgen.StepCall("testing.never_registered")


def test_an_engine_failure_is_raised_not_hidden(flowgen_runner: Runner) -> None:
    with pytest.raises(RunnerError, match="StepNotFoundError") as failed:
        flowgen_runner.start(unknown_step)
    assert isinstance(failed.value.__cause__, flowgen.StepNotFoundError)
    (info,) = flowgen_runner.runs()
    with pytest.raises(RunBlockedError, match="flowgen failed while advancing it"):
        flowgen_runner.get(info.run_id).result()


@flowgen.workflow(name="testing.forever")
def forever():
    while True:
        yield apps.notify("log", "again")


def test_a_workflow_that_never_blocks_hits_the_journal_limit() -> None:
    with Runner(journal_limit=50, journal_warn=40) as runner:
        run = runner.start(forever)

        assert run.status().status == "failed"
        with pytest.raises(flowgen.WorkflowFailedError) as failed:
            run.result()
        assert isinstance(failed.value.__cause__, flowgen.JournalLimitError)
        assert len(runner.calls(apps.notify)) == 50
