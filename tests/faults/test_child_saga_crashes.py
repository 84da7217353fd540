"""A worker killed in the middle of a parent's compensation of a completed child run.

A real ``flowgen worker`` process on a real redis-server is killed (SIGKILL, by the
``after_step_body`` fault point of :mod:`flowgen.faults`) right after the body of the child's
first compensation returned, before its result was journaled. Another worker resumes the
compensation: what was journaled is not run again, the interrupted compensation runs once more
(recorded as a crashed attempt), the rest run once, in the same order.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

import flowgen
from tests.faults.support import Expect, Ledger, Workers, check_scenario, exit_code, wait_finished

pytestmark = [pytest.mark.faults, pytest.mark.redis]

APP = "tests.apps.child_saga_faults"
UNBOOK = "child_saga_faults.unbook"


def test_a_kill_during_a_childs_compensation_resumes_it_and_runs_each_compensation_once(
    redis_url: str, engine: flowgen.Engine, workers: Workers, ledger: Ledger
) -> None:
    # Compensations run newest first: 1-car (hit 1), then the child's 1-leg-b (hit 2: killed).
    crashing = workers.start(redis_url, APP, threads=1, env={"FLOWGEN_FAULT": f"after_step_body:{UNBOOK}@2"})
    run = engine.start("child_saga_faults.journey", 1, run_id="journey-1")
    assert exit_code(crashing) == -signal.SIGKILL
    before = [e["item"] for e in ledger.entries(UNBOOK)]
    assert before == ["1-car", "1-leg-b"]
    record = engine.store.get_run(run.run_id)
    assert record is not None and record.status == "compensating"

    resuming = workers.start(redis_url, APP, threads=4)
    wait_finished(redis_url, [run.run_id], 60)
    journals = check_scenario(
        redis_url,
        {run.run_id: Expect.failed(flowgen.CompensatedError, "the journey was refused")},
    )

    unbooked = [(e["item"], e["pid"]) for e in ledger.entries(UNBOOK)]
    assert unbooked == [
        ("1-car", crashing.pid),
        ("1-leg-b", crashing.pid),
        ("1-leg-b", resuming.pid),
        ("1-leg-a", resuming.pid),
        ("1-hotel", resuming.pid),
    ]
    assert Counter(e["item"] for e in ledger.entries("child_saga_faults.book")) == {
        "1-hotel": 1,
        "1-leg-a": 1,
        "1-leg-b": 1,
        "1-car": 1,
    }
    # The compensations got the undone steps' results, the child's from the child's journal.
    assert {e["item"]: e["result"] for e in ledger.entries(UNBOOK)}["1-leg-b"] == "booking-1-leg-b"

    compensation = journals[run.run_id][-1]
    assert compensation["kind"] == "compensate"
    branches = [compensation["leaves"][str(index)] for index in range(4)]
    assert [b["info"]["for"] for b in branches] == ["2", "1>1", "1>0", "0"]
    assert [b["info"].get("child") for b in branches] == [None, "journey-1/1", "journey-1/1", None]
    assert [[a["status"] for a in b["attempts"]] for b in branches] == [
        ["ok"],
        ["crashed", "ok"],
        ["ok"],
        ["ok"],
    ]
    with pytest.raises(flowgen.WorkflowFailedError) as caught:
        run.result(timeout=5)
    compensated = caught.value.__cause__
    assert isinstance(compensated, flowgen.CompensatedError)
    assert [c["ok"] for c in compensated.compensations] == [True] * 4
