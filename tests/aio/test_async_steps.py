"""``async def`` steps on the Runner, SQLite and Redis (worker threads of this process).

What a sync step has, an async step has: its result journaled, retries, a timeout (one that
cancels the coroutine), ``step_context()`` inside the coroutine, compensation; and it runs on
the process's step loop without holding a worker thread.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import flowgen
from tests.aio.conftest import Env
from tests.apps import async_apps as apps


def test_a_workflow_mixes_sync_and_async_steps(env: Env) -> None:
    run = env.start(apps.mixed, 3)
    assert env.result(run) == ((3 * 2) + 1) * 2
    journal = run.journal()
    assert [entry["name"] for entry in journal] == ["sync_double", "async_increment", "sync_double"]
    assert journal[1]["value"] == 7


def test_step_context_works_inside_the_coroutine_after_an_await(env: Env) -> None:
    run = env.start(apps.one_nap, 0.01)
    seen = env.result(run)
    assert seen["run_id"] == run.run_id
    assert seen["position"] == "0"  # the same as a sync step's context says
    assert seen["key"] == f"{run.run_id}:0:0"
    assert seen["thread"] == "flowgen-step-loop"


def test_a_failing_async_step_is_retried_under_its_policy(env: Env) -> None:
    run = env.start(apps.flaky_flow, 2)
    assert env.result(run) == 3
    attempts = run.journal()[0]["attempts"]
    assert [attempt["status"] for attempt in attempts] == ["error", "error", "ok"]


def test_retries_exhausted_fail_the_run_with_the_steps_own_error(env: Env) -> None:
    run = env.start(apps.flaky_flow, 5)
    with pytest.raises(flowgen.WorkflowFailedError) as caught:
        env.result(run)
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert "attempt 3 failed" in str(caught.value.__cause__)


def test_a_timeout_cancels_the_coroutine_and_the_retry_succeeds(env: Env) -> None:
    run = env.start(apps.timeout_flow, 30.0)
    assert env.result(run) == 2
    assert apps.TRACE["cancelled"] == 1  # the await was really interrupted, not left running
    attempts = run.journal()[0]["attempts"]
    assert [attempt["status"] for attempt in attempts] == ["timeout", "ok"]


def test_a_timed_out_step_raises_step_timeout_error_in_the_workflow(env: Env) -> None:
    run = env.start(apps.times_out)
    message = env.result(run)
    assert message.startswith("timed out: step 'always_hangs' attempt 1 ran longer than its timeout of 0.2s")
    assert "coroutine was cancelled" in message


def test_a_failed_run_compensates_its_async_steps(env: Env) -> None:
    run = env.start(apps.saga, "seat-12")
    with pytest.raises(flowgen.WorkflowFailedError):
        env.result(run)
    assert apps.TRACE["undone"] == ["seat-12"]


def test_an_async_step_with_a_queue_runs_as_its_own_message(env: Env) -> None:
    run = env.start(apps.queued, 0.01)
    assert env.result(run) == "0/"  # a step branch: its position names the branch, as for sync ones


def test_all_of_over_async_steps_awaits_them_together_on_the_loop(env: Env) -> None:
    """30 branches that each wait until all 30 await together: they can only finish concurrently."""
    if not env.concurrent:
        pytest.skip("the Runner runs branches one after another in the test's thread")
    run = env.start(apps.meet_all, 30)
    assert env.result(run) == [30] * 30
    outcome = env.engine.start(apps.parallel_naps, 5, 0.01).result(timeout=60)
    assert outcome["positions"] == [f"1/{i}" for i in range(5)]


def test_awaiting_runs_hold_no_worker_thread(env: Env) -> None:
    """60 runs whose step waits until all 60 await together, on an engine with 2 worker threads."""
    if not env.concurrent:
        pytest.skip("the Runner runs steps in the test's thread")
    runs = [env.start(apps.meeting, 60) for _ in range(60)]
    assert [env.result(run) for run in runs] == [60] * 60


def test_runs_of_several_async_steps_go_on_when_the_limit_is_reached(tmp_path: Path) -> None:
    """With one async slot, each run's next async step waits for a slot and gets one."""
    with flowgen.Engine(f"sqlite:///{tmp_path}/runs.db", threads=2, async_step_limit=1) as engine:
        runs = [engine.start(apps.three_increments, n) for n in range(6)]
        assert [run.result(timeout=60) for run in runs] == [n + 3 for n in range(6)]


def test_an_async_steps_result_is_converted_to_its_return_schema(env: Env) -> None:
    assert env.result(env.start(apps.receipt, "o-1", True)) == ["Receipt", 3]
    with pytest.raises(flowgen.WorkflowFailedError) as caught:
        env.result(env.start(apps.receipt, "o-2", False))
    assert "the result of step 'make_receipt' does not fit Receipt" in str(caught.value.__cause__)
