"""What a real ``flowgen worker`` logs (issue 19 item 5): every record, the user's own included,
carries the run context; a failed attempt is a WARNING with the next retry, a failed run an
ERROR; ``--log-format json`` is one object per line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import flowgen
from tests.conftest import WorkerProcess, wait_until

APPS = "tests.apps.cli_apps"


def _records(worker: WorkerProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]


def _fail_one_run(redis_url: str) -> None:
    with flowgen.Engine(redis_url) as client:
        client.start("cli.fails", "no stock", run_id="bad-1")
        with pytest.raises(flowgen.WorkflowFailedError):
            client.result("bad-1", timeout=60)


def test_json_logs_carry_the_run_context_on_the_users_own_records_too(
    redis_url: str, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(APPS, args=["--log-format", "json"])
    _fail_one_run(redis_url)
    wait_until(lambda: any(r["level"] == "ERROR" for r in _records(worker)), 30, "the run's ERROR record")
    records = _records(worker)

    mine = [r for r in records if r["logger"] == "tests.apps.cli_apps"]
    assert mine and mine[0]["message"] == "doubling 1"
    assert {key: mine[0][key] for key in ("run_id", "workflow", "step", "attempt", "position")} == {
        "run_id": "bad-1",
        "workflow": "cli.fails",
        "step": "cli.double",
        "attempt": 1,
        "position": "0",
    }
    retry, gives_up = [r for r in records if r["level"] == "WARNING" and r["logger"] == "flowgen.steps"]
    assert retry["run_id"] == "bad-1" and retry["step"] == "cli.refuse" and retry["attempt"] == 1
    assert "RuntimeError: refused: no stock" in retry["message"] and "next attempt in" in retry["message"]
    assert gives_up["attempt"] == 2 and "no retry left" in gives_up["message"]
    (failed,) = [r for r in records if r["level"] == "ERROR"]
    assert failed["logger"] == "flowgen.runs" and failed["run_id"] == "bad-1" and failed["position"] == "1"
    assert "run bad-1 of cli.fails failed" in failed["message"]
    assert all("time" in r and "process" in r for r in records)


def test_text_logs_name_the_run_and_routine_reconciling_is_not_reported(
    redis_url: str, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(APPS, args=["--reconcile-interval", "0.2", "--grace", "0"])
    _fail_one_run(redis_url)
    with flowgen.Engine(redis_url) as client:
        # A run created without its message (a client that died before enqueueing it): only the
        # reconciler can start it, which is routine and must not read like a fault.
        new = client._new_run("cli.steps", [1], {}, "quiet-1")
        client.store.create_run(new, client.clock.now(), 0.0)
        assert client.result("quiet-1", timeout=60) == 4
    # A run's end is logged after its finish is committed, so a client can have the result
    # before the worker has written the line: wait for both runs' lines.
    completed = "INFO flowgen.runs [run=quiet-1 pos=1]: run quiet-1 of cli.steps completed"
    wait_until(lambda: "ERROR flowgen.runs" in worker.log(), 30, "the run's ERROR line")
    wait_until(lambda: completed in worker.log(), 30, "quiet-1's completed line")
    log = worker.log()
    assert "INFO tests.apps.cli_apps [run=bad-1 step=cli.double#1 pos=0]: doubling 1" in log
    assert "WARNING flowgen.steps [run=bad-1 step=cli.refuse#1 pos=1]: step cli.refuse attempt 1 failed" in log
    # The reconciler started quiet-1: said as routine (INFO, no fault words), not as a problem.
    lines = [line for line in log.splitlines() if "reconciler" in line]
    assert any("ready run(s) that no worker had taken: [" in line and "'quiet-1'" in line for line in lines)
    for line in lines:
        assert "INFO flowgen.services" in line
        assert not any(word in line for word in ("WARNING", "ERROR", "stuck", "no live lease", "re-enqueue"))
