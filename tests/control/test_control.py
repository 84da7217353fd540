"""Pause, resume, cancel, restart, retry, children, sagas, continue-as-new and batch start,
each on the testing runner, on Redis with real worker threads, and on the embedded SQLite engine."""

from __future__ import annotations

import pytest

import flowgen
from tests.apps import control
from tests.control.conftest import Env


def test_pause_during_a_step_finishes_the_step_then_parks_until_resumed(env: Env) -> None:
    seen: dict[str, flowgen.RunInfo] = {}

    def pause_now() -> None:
        run_id = flowgen.step_context().run_id
        env.engine.pause(run_id)
        seen["during"] = env.engine.get(run_id).status()

    control.hooks["one"] = pause_now
    run = env.start(control.three_steps)
    info = env.settle(run, "paused")
    assert seen["during"].pause_pending and seen["during"].status == "running"
    assert not info.pause_pending
    assert control.executions["one"] == 1
    assert control.executions["two"] == 0, "the next step must not start while a pause is pending"
    assert [entry["name"] for entry in run.journal()] == ["control.work"]
    run.resume()
    assert env.result(run) == ["ONE", "TWO", "THREE"]
    assert control.executions == {"one": 1, "two": 1, "three": 1}


def test_timers_and_events_while_paused_take_effect_on_resume(env: Env) -> None:
    run = env.start(control.sleep_then_event, 0.3)
    env.settle(run, "waiting")
    run.pause()
    assert env.settle(run, "paused").status == "paused"
    env.pass_time(0.5)
    run.send_event("go", {"n": 1})
    env.drain()
    assert run.status().status == "paused", "a due timer and an event must not wake a paused run"
    assert control.executions["after"] == 0
    run.resume()
    assert env.result(run) == [{"n": 1}, "AFTER"]


def test_pausing_or_resuming_the_wrong_state_is_a_clear_error(env: Env) -> None:
    run = env.start(control.three_steps)
    env.result(run)
    with pytest.raises(flowgen.RunFinishedError, match="already finished"):
        run.pause()
    waiting = env.start(control.cleanup_on_cancel)
    env.settle(waiting, "waiting")
    with pytest.raises(flowgen.RunStateError, match="not paused"):
        waiting.resume()


def test_cancel_raises_into_the_workflow_and_runs_the_cleanup_step(env: Env) -> None:
    run = env.start(control.cleanup_on_cancel)
    env.settle(run, "waiting")
    run.cancel()
    with pytest.raises(flowgen.WorkflowCancelledError) as caught:
        env.result(run)
    assert isinstance(caught.value.__cause__, flowgen.CancelledError)
    assert control.executions["cleanup"] == 1
    assert run.status().status == "cancelled"
    journal = run.journal()
    assert journal[0]["error"]["type"] == "flowgen.errors:CancelledError"
    assert journal[1]["name"] == "control.work" and journal[1]["ok"]


def test_cancel_cascades_to_children(env: Env) -> None:
    parent = env.start(control.parent_of_one)
    env.settle(parent, "waiting")
    child = env.engine.get("control-child-only")
    env.settle(child, "waiting")
    parent.cancel()
    with pytest.raises(flowgen.WorkflowCancelledError):
        env.result(parent)
    assert env.settle(child, "cancelled").status == "cancelled"
    assert control.executions["child-cleanup-only"] == 1, "the child's own cleanup ran"


def test_force_cancel_ends_the_run_at_once_without_cleanup(env: Env) -> None:
    run = env.start(control.cleanup_on_cancel)
    env.settle(run, "waiting")
    info = run.cancel(force=True)
    assert info.status == "cancelled"
    with pytest.raises(flowgen.WorkflowCancelledError, match="terminated"):
        env.result(run)
    env.drain()
    assert control.executions["cleanup"] == 0
    with pytest.raises(flowgen.RunFinishedError):
        run.send_event("approval", 1)


def test_cancelling_a_cancelled_run_again_is_a_no_op(env: Env) -> None:
    run = env.start(control.cleanup_on_cancel)
    env.settle(run, "waiting")
    # "requested" until a worker raised it into the workflow (the runner does so before returning)
    assert run.cancel().cancellation in ("requested", "delivered")
    with pytest.raises(flowgen.WorkflowCancelledError):
        env.result(run)
    first = run.status()
    assert (first.status, first.cancellation) == ("cancelled", "delivered")
    again = run.cancel()
    assert (again.status, again.cancellation, again.finished) == ("cancelled", "delivered", first.finished)
    forced = run.cancel(force=True)
    assert (forced.status, forced.cancellation) == ("cancelled", "delivered")
    env.drain()
    assert control.executions["cleanup"] == 1, "cleanup ran once"
    assert run.status() == first

    terminated = env.start(control.cleanup_on_cancel)
    env.settle(terminated, "waiting")
    assert terminated.cancel(force=True).cancellation == "forced"
    assert terminated.cancel().cancellation == "forced"
    assert terminated.cancel(force=True).status == "cancelled"


def test_cancelling_a_completed_or_failed_run_is_refused(env: Env) -> None:
    run = env.start(control.three_steps)
    env.result(run)
    with pytest.raises(flowgen.RunFinishedError, match=r"already finished \(completed\)"):
        run.cancel()
    with pytest.raises(flowgen.RunFinishedError, match=r"already finished \(completed\)"):
        run.cancel(force=True)
    assert run.status().cancellation is None
    control.failures_left["flaky"] = 1
    failed = env.start(control.retry_me)
    env.failure(failed)
    with pytest.raises(flowgen.RunFinishedError, match=r"already finished \(failed\)"):
        failed.cancel()
    assert failed.status().status == "failed"


def test_a_cancel_accepted_during_the_last_step_is_reported_as_ignored(env: Env) -> None:
    seen: dict[str, flowgen.RunInfo] = {}

    def cancel_now() -> None:
        seen["accepted"] = env.engine.cancel(flowgen.step_context().run_id)

    control.hooks["three"] = cancel_now
    run = env.start(control.three_steps)
    assert env.result(run) == ["ONE", "TWO", "THREE"], "the workflow had no yield left to raise it at"
    assert (seen["accepted"].status, seen["accepted"].cancellation) == ("running", "requested")
    info = run.status()
    assert (info.status, info.cancellation) == ("completed", "ignored")
    with pytest.raises(flowgen.RunFinishedError, match=r"already finished \(completed\)"):
        run.cancel()


def test_a_cancel_accepted_during_a_step_is_delivered_at_the_next_yield(env: Env) -> None:
    control.hooks["two"] = lambda: env.engine.cancel(flowgen.step_context().run_id)
    run = env.start(control.three_steps)
    with pytest.raises(flowgen.WorkflowCancelledError):
        env.result(run)
    assert control.executions == {"one": 1, "two": 1}
    info = run.status()
    assert (info.status, info.cancellation) == ("cancelled", "delivered")


def test_restart_runs_again_from_the_beginning_and_keeps_the_old_journal(env: Env) -> None:
    run = env.start(control.three_steps)
    assert env.result(run) == ["ONE", "TWO", "THREE"]
    run.restart()
    assert env.result(run) == ["ONE", "TWO", "THREE"]
    assert control.executions == {"one": 2, "two": 2, "three": 2}
    history = run.history()
    assert len(history) == 1 and history[0]["status"] == "completed"
    assert [entry["name"] for entry in history[0]["entries"]] == ["control.work"] * 3
    assert run.status().generation == 1


def test_retry_resumes_from_the_failed_step_without_rerunning_earlier_ones(env: Env) -> None:
    control.failures_left["flaky"] = 1
    run = env.start(control.retry_me)
    error = env.failure(run)
    assert isinstance(error.__cause__, ConnectionError)
    run.retry()
    assert env.result(run) == ["BEFORE", "FLAKY", "AFTER"]
    assert control.executions == {"before": 1, "flaky": 2, "after": 1}
    assert [entry["name"] for entry in run.journal()] == ["control.work", "control.flaky", "control.work"]
    with pytest.raises(flowgen.RunStateError, match="only a failed run"):
        run.retry()


def test_child_results_are_gathered_in_order(env: Env) -> None:
    run = env.start(control.fan_out, 4)
    assert env.result(run) == [{"n": n, "value": f"CHILD-{n}"} for n in range(4)]
    children = env.engine.runs(workflow=control.child_ok)
    assert len(children) == 4 and {child.parent for child in children} == {run.run_id}


def test_child_failure_is_raised_into_the_parent_as_child_workflow_error(env: Env) -> None:
    run = env.start(control.parent_of_failing)
    result = env.result(run)
    assert result["cause"] == "ValueError"
    assert result["message"] == "child 7 cannot go on"
    assert "child 7 cannot go on" in result["caught"]


def test_any_of_children_the_loser_is_cancelled(env: Env) -> None:
    run = env.start(control.race_children)
    assert env.result(run) == {"index": 0, "value": {"n": 1, "value": "CHILD-1"}}
    loser = env.engine.runs(workflow=control.child_waits)[0]
    assert env.settle(env.engine.get(loser.run_id), "cancelled").status == "cancelled"


def test_saga_compensations_run_newest_first_and_a_failing_one_does_not_stop_the_rest(env: Env) -> None:
    run = env.start(control.saga, "o-1")
    env.pass_time(0.05)  # the failing compensation's retry back-off
    error = env.failure(run)
    compensated = error.__cause__
    assert isinstance(compensated, flowgen.CompensatedError)
    assert isinstance(compensated.__cause__, RuntimeError)
    assert [(c["step"], c["undoes"], c["for"], c["ok"]) for c in compensated.compensations] == [
        ("control.refund", "control.charge", "2", False),
        ("control.release_stock", "control.reserve_stock", "1/1", True),
        ("control.release_stock", "control.reserve_stock", "1/0", True),
        ("control.release_stock", "control.reserve_stock", "0", True),
    ]
    assert "no courier available" in str(compensated) and "refund" in str(compensated)
    assert control.executions["refund:o-1"] == 2, "the failing compensation used its own retries"
    for sku in "abc":
        assert control.executions[f"release:{sku}:hold-{sku}"] == 1, "compensations get the step's result"
    assert run.status().status == "failed"
    assert run.journal()[-1]["kind"] == "compensate"
    with pytest.raises(flowgen.RunStateError, match="compensations"):
        run.retry()


def test_explicit_compensate_undoes_completed_steps_once(env: Env) -> None:
    run = env.start(control.explicit_compensation)
    result = env.result(run)
    assert [c["undoes"] for c in result["undone"]] == ["control.reserve_stock"]
    assert result["again"] == []
    assert control.executions["release:x:hold-x"] == 1


def test_continue_as_new_across_five_generations(env: Env) -> None:
    run = env.start(control.generations, 0, [])
    assert env.result(run) == {"generation": 4, "seen": ["GEN-0", "GEN-1", "GEN-2", "GEN-3", "GEN-4"]}
    info = run.status()
    assert info.generation == 4
    assert [entry["name"] for entry in run.journal()] == ["control.work"], (
        "each generation starts a new journal"
    )


def test_journal_limit_fails_the_run_with_advice(env: Env) -> None:
    env.engine.settings.journal_limit = 20
    env.engine.runtime.settings.journal_limit = 20
    run = env.start(control.long_workflow, 50)
    error = env.failure(run)
    assert isinstance(error.__cause__, flowgen.JournalLimitError)
    assert "continue_as_new" in str(error.__cause__)
    assert len(run.journal()) == 20


def test_start_many_starts_a_thousand_and_reports_existing_ids(env: Env) -> None:
    existing = [f"batch-{n}" for n in range(0, 1000, 100)]
    for run_id in existing:
        env.start(control.child_ok, 0, run_id=run_id)
    calls = [((n,), None, f"batch-{n}") for n in range(1000)]
    result = env.engine.start_many(control.child_ok, calls)
    assert sorted(result.existing) == sorted(existing)
    assert len(result.created) == 990 and set(result.created).isdisjoint(existing)
    assert sorted(result.conflicts) == sorted(existing[1:]), "batch-0 was started with the same argument"
    env.drain()
    assert env.result(result.runs[999]) == {"n": 999, "value": "CHILD-999"}
    assert len(env.engine.runs(workflow=control.child_ok, limit=2000)) == 1000
    with pytest.raises(ValueError, match="at most 1000"):
        env.engine.start_many(control.child_ok, [((n,), None, None) for n in range(1001)])


def test_children_of_a_new_generation_are_new_runs(env: Env) -> None:
    run = env.start(control.child_per_generation, 0)
    assert env.result(run) == {"n": 2, "value": "CHILD-2"}
    assert control.executions == {"child-0": 1, "child-1": 1, "child-2": 1}
    run.restart()  # restarts with the run's current (latest) arguments
    assert env.result(run) == {"n": 2, "value": "CHILD-2"}
    assert control.executions == {"child-0": 1, "child-1": 1, "child-2": 2}, "a restart runs its child again"
    assert len(env.engine.runs(workflow=control.child_ok)) == 4
