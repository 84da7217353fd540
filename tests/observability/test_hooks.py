"""Lifecycle hooks: ``engine.on`` in one process, ``flowgen.on`` in real worker processes."""

from __future__ import annotations

import json

import pytest
import redis

import flowgen
from flowgen.observability.hooks import process_hooks
from tests.apps import observed
from tests.conftest import wait_until


@flowgen.step(retries=0)
def hk_fail() -> None:
    raise LookupError("no such order")


@flowgen.step(retries=0)
def hk_ok() -> int:
    return 1


@flowgen.workflow
def hk_flow(fail: bool):
    yield hk_ok()
    if fail:
        yield hk_fail()
    return "done"


def test_hooks_are_called_once_per_transition_with_its_fact() -> None:
    calls: list[tuple[str, object]] = []
    with flowgen.Engine("memory://", tracing=False) as engine:
        for event in (
            "run.started",
            "run.completed",
            "run.failed",
            "run.finished",
            "step.failed",
            "step.succeeded",
        ):
            engine.on(event, lambda fact, event=event: calls.append((event, fact)))
        engine.start(hk_flow, False, run_id="ok").result(timeout=10)
        with pytest.raises(flowgen.WorkflowFailedError):
            engine.start(hk_flow, True, run_id="bad").result(timeout=10)
        wait_until(lambda: sum(1 for event, _ in calls if event == "run.finished") == 2, 10, "both ends")
    events = sorted((event, fact.run_id) for event, fact in calls)
    assert events == [
        ("run.completed", "ok"),
        ("run.failed", "bad"),
        ("run.finished", "bad"),
        ("run.finished", "ok"),
        ("run.started", "bad"),
        ("run.started", "ok"),
        ("step.failed", "bad"),
        ("step.succeeded", "bad"),
        ("step.succeeded", "ok"),
    ]
    failed_run = next(fact for event, fact in calls if event == "run.failed")
    assert (failed_run.status, failed_run.error_type, failed_run.workflow) == (
        "failed",
        "builtins.LookupError",
        "hk_flow",
    )
    failed_step = next(fact for event, fact in calls if event == "step.failed")
    assert (failed_step.step, failed_step.attempt, failed_step.outcome) == ("hk_fail", 1, "failed")
    assert failed_step.error_message == "no such order"


def test_a_hook_that_raises_does_not_affect_the_run_or_the_other_hooks() -> None:
    seen: list[str] = []

    def broken(_fact: object) -> None:
        raise RuntimeError("the pager is down")

    with flowgen.Engine("memory://", tracing=False) as engine:
        engine.on("run.completed", broken)
        engine.on("run.completed", lambda fact: seen.append(fact.run_id))
        assert engine.start(hk_flow, False, run_id="still-ok").result(timeout=10) == "done"
        wait_until(lambda: seen == ["still-ok"], 10, "the second hook")


@pytest.mark.parametrize("event", ["run.exploded", "", None])
def test_an_unknown_hook_event_is_refused_naming_the_known_ones(event: object) -> None:
    with flowgen.Engine("memory://", tracing=False) as engine:
        with pytest.raises(flowgen.ConfigurationError, match=r"run\.completed"):
            engine.on(event, print)  # type: ignore[arg-type]
        with pytest.raises(flowgen.ConfigurationError, match="callable"):
            engine.on("run.failed", "not a function")  # type: ignore[arg-type]


@pytest.mark.redis
def test_worker_processes_call_process_hooks_once_per_transition(redis_url: str, start_worker) -> None:
    worker = start_worker("tests.apps.hooked", processes=2, threads=2)
    with flowgen.Engine(redis_url, tracing=False) as engine:
        runs = [engine.start(observed.observed, x, run_id=f"hooked-{x}") for x in range(10)]
        for run in runs:
            wait_until(lambda run=run: run.status().is_finished, 60, f"{run.run_id} to finish")
    client = redis.Redis.from_url(redis_url)

    def recorded() -> list | None:
        calls = [json.loads(item) for item in client.lrange("test:hooks", 0, -1)]
        ends = [call for call in calls if call[0] in ("run.completed", "run.failed")]
        return calls if len(ends) >= 10 else None

    calls = wait_until(recorded, 20, "the hooks of 10 finished runs")
    client.close()
    ends = sorted((call[0], call[1]) for call in calls if call[0].startswith("run."))
    assert ends == sorted(("run.failed" if x % 5 == 0 else "run.completed", f"hooked-{x}") for x in range(10))
    step_failures = sorted(call[1] for call in calls if call[0] == "step.failed")
    assert step_failures == sorted(["hooked-0", "hooked-0", "hooked-5", "hooked-5"])  # two attempts each
    supervisor = worker.pid
    assert supervisor not in {call[3] for call in calls}  # called in the worker processes


def test_flowgen_on_reaches_every_engine_of_the_process() -> None:
    seen: list[str] = []
    callback = flowgen.on("run.completed", lambda fact: seen.append(fact.run_id))
    try:
        with flowgen.Engine("memory://", tracing=False) as engine:
            engine.start(hk_flow, False, run_id="global").result(timeout=10)
            wait_until(lambda: seen == ["global"], 10, "the process hook")
            late: list[str] = []
            later = flowgen.on("run.completed", lambda fact: late.append(fact.run_id))  # after the engine
            try:
                engine.start(hk_flow, False, run_id="later").result(timeout=10)
                wait_until(lambda: late == ["later"], 10, "the hook registered after the engine")
            finally:
                process_hooks.remove("run.completed", later)
    finally:
        process_hooks.remove("run.completed", callback)
    with flowgen.Engine("memory://", tracing=False) as engine:
        assert not engine.observers  # no hook left: no facts built
