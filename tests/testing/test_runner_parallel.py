"""all_of / any_of members run as their own messages, synchronously; child runs run in the runner."""

from __future__ import annotations

import pytest

import flowgen
from flowgen.testing import Runner, call
from tests.apps import runner_apps as apps


def test_all_of_runs_every_member_and_returns_values_in_order(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.fan_out, "o-1")

    assert run.result() == ["email:o-1", "sms:o-1", "push:o-1"]
    assert flowgen_runner.calls(apps.notify) == [
        call(apps.notify, "email", "o-1"),
        call(apps.notify, "sms", "o-1"),
        call(apps.notify, "push", "o-1"),
    ]
    positions = [c.position for c in flowgen_runner.calls(apps.notify)]
    assert positions == ["0/0", "0/1", "0/2"], "members must run as dispatched branch messages"
    entry = run.journal()[0]
    assert entry["kind"] == "all_of" and sorted(entry["leaves"]) == ["0", "1", "2"]


def test_all_of_fails_with_the_first_member_failure(flowgen_runner: Runner) -> None:
    def fail_sms(channel: str, text: str) -> str:
        if channel == "sms":
            raise RuntimeError("sms gateway down")
        return "ok"

    flowgen_runner.mock(apps.notify, side_effect=fail_sms)

    run = flowgen_runner.start(apps.fan_out, "o-2")

    with pytest.raises(flowgen.WorkflowFailedError) as failed:
        run.result()
    assert str(failed.value.__cause__) == "sms gateway down"


@flowgen.step(name="testing.flaky_member", retries=flowgen.Retry(limit=1, delay="1 minute", jitter=0))
def flaky_member(n: int) -> int:
    return n


@flowgen.workflow(name="testing.gather_flaky")
def gather_flaky():
    return (yield flowgen.all_of(flaky_member(1), flaky_member(2)))


def test_a_parallel_member_retries_after_virtual_back_off(flowgen_runner: Runner) -> None:
    answers: dict[int, list[object]] = {1: [ValueError("once"), 10], 2: [20]}
    flowgen_runner.mock(flaky_member, side_effect=lambda n: _pop(answers[n]))

    run = flowgen_runner.start(gather_flaky)
    assert run.status().status == "waiting"
    assert len(flowgen_runner.calls(flaky_member)) == 2

    flowgen_runner.advance("1 minute")

    assert run.result() == [10, 20]
    assert [c.attempt for c in flowgen_runner.calls(flaky_member)] == [1, 1, 2]


def _pop(answers: list[object]) -> object:
    answer = answers.pop(0)
    if isinstance(answer, BaseException):
        raise answer
    return answer


def test_any_of_event_wins_over_timer(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.race, "1 hour")
    flowgen_runner.advance("59 minutes")

    run.send_event("paid", {"amount": 5})

    assert run.result() == {"winner": "event", "value": {"amount": 5}}


def test_any_of_timer_wins_when_no_event_comes(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.race, "1 hour")

    flowgen_runner.advance("1 hour")

    assert run.result() == {"winner": "timer", "value": None}


def test_any_of_leaves_a_late_event_unconsumed(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.race, "1 hour")
    flowgen_runner.advance("2 hours")

    assert run.result()["winner"] == "timer"
    with pytest.raises(flowgen.RunFinishedError):
        run.send_event("paid", {})


def test_child_run_runs_to_completion_in_the_same_runner(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(apps.child_order, "o-9", run_id="parent-o-9")

    assert run.result() == "ship-o-9"
    child = flowgen_runner.get("parent-o-9/0")
    assert child.status().parent == "parent-o-9"
    assert child.result()["payment"] == "pay-o-9"


def test_a_blocked_child_is_described_from_the_parent(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.charge, side_effect=[ConnectionError("down"), {"id": "pay-x"}])
    run = flowgen_runner.start(apps.child_order, "o-10", run_id="parent-o-10")

    with pytest.raises(flowgen.testing.RunBlockedError, match=r"child run 'parent-o-10/0' .* to be retried"):
        run.result()

    flowgen_runner.advance("10s")
    assert run.result() == "ship-o-10"


@flowgen.step(name="testing.on_queue", queue="slow-lane", retries=0)
def on_queue(x: int) -> int:
    return x * 10


@flowgen.workflow(name="testing.uses_queue")
def uses_queue():
    first = yield on_queue(1)
    second = yield apps.notify("log", str(first))
    return [first, second]


def test_a_queue_step_runs_as_its_own_message(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(uses_queue)

    assert run.result() == [10, "log:10"]
    queued, inline = flowgen_runner.calls()
    assert queued.step == "testing.on_queue" and queued.position == "0/", "dispatched as branch 0/"
    assert inline.position == "1", "an inline step runs under its plain position"


@flowgen.workflow(name="testing.nested_gather")
def nested_gather(order_id: str):
    """An all_of with a nested any_of (an event against a timer)."""
    return (
        yield flowgen.all_of(
            apps.notify("email", order_id),
            flowgen.any_of(flowgen.wait_for_event("paid"), flowgen.sleep("1 hour")),
            apps.notify("sms", order_id),
        )
    )


def test_journal_decodes_the_values_of_all_of_and_any_of_entries(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(nested_gather, "o-7")
    run.send_event("paid", {"amount": 5, "at": "2024-01-01"})
    payload = {"amount": 5, "at": "2024-01-01"}
    assert run.result() == ["email:o-7", [0, payload], "sms:o-7"]  # the output went through JSON

    entry = run.journal()[0]
    assert entry["kind"] == "all_of" and entry["ok"]
    assert entry["value"] == ["email:o-7", (0, payload), "sms:o-7"], "what the workflow received"
    assert {path: leaf["value"] for path, leaf in entry["leaves"].items()} == {
        "0": "email:o-7",
        "1.0": payload,
        "2": "sms:o-7",
    }
