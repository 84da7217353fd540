"""Saga compensation of ``all_of`` members (issue 13, item 2): on the runner, Redis and SQLite."""

from __future__ import annotations

import flowgen
from tests.apps import control, sagas
from tests.control.conftest import Env


def _compensations(env: Env, run: flowgen.Run) -> list[tuple[str, str, bool]]:
    error = env.failure(run)
    compensated = error.__cause__
    assert isinstance(compensated, flowgen.CompensatedError), f"the run failed with {compensated!r}"
    assert isinstance(compensated.__cause__, RuntimeError)
    assert "the warehouse refused the order" in str(compensated)
    return [(c["undoes"], c["for"], c["ok"]) for c in compensated.compensations]


def test_a_failing_first_all_of_compensates_its_completed_members(env: Env) -> None:
    run = env.start(sagas.first_all_of_fails)

    assert _compensations(env, run) == [
        ("control.reserve_stock", "0/1", True),
        ("control.reserve_stock", "0/0", True),
    ]
    assert control.executions["release:a:hold-a"] == 1
    assert control.executions["release:b:hold-b"] == 1
    journal = run.journal()
    assert [entry["kind"] for entry in journal] == ["all_of", "compensate"]
    assert journal[0]["ok"] is False


def test_a_failing_later_all_of_compensates_its_completed_members_then_the_earlier_steps(env: Env) -> None:
    run = env.start(sagas.later_all_of_fails)

    assert _compensations(env, run) == [
        ("control.reserve_stock", "1/0", True),
        ("control.reserve_stock", "0", True),
    ]
    assert control.executions["release:y:hold-y"] == 1
    assert control.executions["release:x:hold-x"] == 1


def test_a_failing_all_of_waits_for_a_running_compensable_member_and_compensates_it(env: Env) -> None:
    run = env.start(sagas.member_still_running)

    assert _compensations(env, run) == [("sagas.reserve_slowly", "0/0", True)]
    assert control.executions["reserve:s"] == 1
    assert control.executions["release:s:hold-s"] == 1
