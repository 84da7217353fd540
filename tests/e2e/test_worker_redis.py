"""End to end on Redis with real ``flowgen worker`` processes."""

from __future__ import annotations

import os
import time

import pytest
import redis

import flowgen
from tests.apps import core
from tests.conftest import wait_until
from tests.redis_urls import broker_key, redis_client

pytestmark = pytest.mark.redis


def expected_summary(x: int) -> dict:
    d = ((x * 2) + 1) * 2 + 1
    return {"value": d, "even": d % 2 == 0}


def executions(redis_url: str) -> dict[str, int]:
    """Executions of each step as the steps recorded them (on the ledger server, see conftest)."""
    client = redis.Redis.from_url(os.environ.get("FLOWGEN_TEST_LEDGER_URL", redis_url))
    counts = {k.decode(): int(v) for k, v in client.hgetall("test:executions").items()}
    client.close()
    return counts


def test_worker_completes_100_runs_of_a_five_step_workflow(redis_url: str, start_worker) -> None:
    start_worker("tests.apps.core", threads=8)
    with flowgen.Engine(redis_url) as engine:
        began = time.monotonic()
        runs = [engine.start(core.five_steps, x, run_id=f"five-{x}") for x in range(100)]
        results = [run.result(timeout=60) for run in runs]
        elapsed = time.monotonic() - began
        assert results == [expected_summary(x) for x in range(100)]
        assert all(run.status().status == "completed" for run in runs)
        journal = runs[7].journal()
        assert [entry["pos"] for entry in journal] == [0, 1, 2, 3, 4]
        assert [entry["name"] for entry in journal] == [
            "double",
            "increment",
            "double",
            "increment",
            "describe",
        ]
    counts = executions(redis_url)
    assert len(counts) == 500 and set(counts.values()) == {1}, "every step of every run ran exactly once"
    print(f"100 five-step runs through one worker process: {elapsed:.2f}s")
    # Every message was acked (batched acks go out with fetches, or on their own when idle).
    client = redis_client(redis_url)
    wait_until(lambda: client.hlen(broker_key(redis_url, "flowgen.msgs")) == 0, 10, "messages were never acked")
    assert not [key for key in client.scan_iter(broker_key(redis_url, "__acks__.*")) if client.scard(key)]
    client.close()


def test_duplicate_advance_messages_run_no_step_twice(redis_url: str, start_worker) -> None:
    with flowgen.Engine(redis_url) as engine:
        runs = [engine.start(core.five_steps, x, run_id=f"dup-{x}") for x in range(20)]
        # Every run gets two more copies of its advance message before any worker runs:
        # three workers threads may pick up the copies of one run at the same moment.
        for run in runs:
            engine.transport.enqueue([run.run_id, run.run_id])
        start_worker("tests.apps.core", threads=8)
        assert [run.result(timeout=60) for run in runs] == [expected_summary(x) for x in range(20)]
        # A copy delivered after completion is a no-op too.
        engine.transport.enqueue([runs[0].run_id] * 3)
        client = redis_client(redis_url)
        wait_until(lambda: client.llen(broker_key(redis_url, "flowgen")) == 0, 30, "the late copies to be consumed")
        journals = [run.journal() for run in runs]
    assert all([e["pos"] for e in journal] == [0, 1, 2, 3, 4] for journal in journals)
    counts = executions(redis_url)
    assert len(counts) == 100 and set(counts.values()) == {1}


def test_step_failure_is_journaled_and_thrown_into_the_workflow(redis_url: str, start_worker) -> None:
    start_worker("tests.apps.failures")
    with flowgen.Engine(redis_url) as engine:
        caught = engine.start("e2e.catches", run_id="catches")
        assert caught.result(timeout=30) == {"caught": "ValueError", "message": "bad input 3"}
        journal = caught.journal()
        assert journal[0]["ok"] is False and journal[0]["error"]["type"] == "builtins:ValueError"
        uncaught = engine.start("e2e.uncaught", run_id="uncaught")
        with pytest.raises(flowgen.WorkflowFailedError) as failure:
            uncaught.result(timeout=30)
        assert isinstance(failure.value.__cause__, KeyError)
        info = uncaught.status()
        assert info.status == "failed" and info.error is not None and info.error.type == "builtins.KeyError"
        assert "raise KeyError" in info.error.traceback


def test_unknown_workflow_fails_the_run_with_a_clear_error(redis_url: str, start_worker) -> None:
    start_worker("tests.apps.core")
    with flowgen.Engine(redis_url) as engine:
        run = engine.start("nobody.declared.this", 1, run_id="ghost")
        with pytest.raises(flowgen.WorkflowFailedError) as failure:
            run.result(timeout=30)
        assert isinstance(failure.value.__cause__, flowgen.WorkflowNotFoundError)
        assert "nobody.declared.this" in str(failure.value.__cause__)
        assert run.journal() == []
        # The worker keeps serving other runs.
        assert engine.start(core.five_steps, 1).result(timeout=30) == expected_summary(1)
