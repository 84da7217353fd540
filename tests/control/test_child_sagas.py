"""Saga compensation of completed child runs (issue 13, item 2): on the runner, Redis and SQLite."""

from __future__ import annotations

from typing import Any

import pytest

import flowgen
from tests.apps import child_sagas, control
from tests.conftest import wait_until
from tests.control.conftest import Env


def _compensated(env: Env, run: flowgen.Run) -> flowgen.CompensatedError:
    error = env.failure(run)
    compensated = error.__cause__
    assert isinstance(compensated, flowgen.CompensatedError), f"the run failed with {compensated!r}"
    assert isinstance(compensated.__cause__, RuntimeError)
    return compensated


def _ran(compensated: flowgen.CompensatedError) -> list[tuple[str, str | None, bool]]:
    return [(c["for"], c.get("child"), c["ok"]) for c in compensated.compensations]


def _released(sku: str) -> int:
    return control.executions[f"release:{sku}:hold-{sku}"]


def test_a_failing_parent_compensates_a_completed_child_in_its_place_newest_first(env: Env) -> None:
    run = env.start(child_sagas.trip)
    compensated = _compensated(env, run)

    child = f"{run.run_id}/1"
    assert _ran(compensated) == [
        ("2", None, True),
        ("1>1", child, True),
        ("1>0", child, True),
        ("0", None, True),
    ]
    assert [c["step"] for c in compensated.compensations] == ["control.release_stock"] * 4
    for sku in ("hotel", "seat-f1", "meal-f1", "car"):
        assert _released(sku) == 1, sku
    # The child itself is left as it ended: completed, its journal unchanged.
    child_run = env.engine.get(child)
    assert child_run.status().status == "completed"
    assert [entry["kind"] for entry in child_run.journal()] == ["step", "step"]


def test_a_child_started_with_compensate_false_keeps_its_effects(env: Env) -> None:
    run = env.start(child_sagas.trip_without_the_flight)
    compensated = _compensated(env, run)

    assert _ran(compensated) == [("0", None, True)]
    assert _released("hotel") == 1
    assert _released("seat-f2") == 0
    assert _released("meal-f2") == 0


def test_children_of_an_all_of_are_compensated_in_reverse_declared_order(env: Env) -> None:
    run = env.start(child_sagas.two_flights)
    compensated = _compensated(env, run)

    first, second = f"{run.run_id}/0.0", f"{run.run_id}/0.1"
    assert _ran(compensated) == [
        ("0/1>1", second, True),
        ("0/1>0", second, True),
        ("0/0>1", first, True),
        ("0/0>0", first, True),
    ]
    for sku in ("seat-a", "meal-a", "seat-b", "meal-b"):
        assert _released(sku) == 1, sku


def test_a_grandchild_is_compensated_in_its_place(env: Env) -> None:
    run = env.start(child_sagas.insured_trip)
    compensated = _compensated(env, run)

    middle = f"{run.run_id}/0"
    grandchild = f"{middle}/1"
    assert _ran(compensated) == [
        ("1", None, True),
        ("0>1>1", grandchild, True),
        ("0>1>0", grandchild, True),
        ("0>0", middle, True),
    ]
    for sku in ("car", "seat-g", "meal-g", "insurance-g"):
        assert _released(sku) == 1, sku


def test_a_childs_failing_compensation_is_recorded_and_the_others_still_run(env: Env) -> None:
    run = env.start(child_sagas.paid_trip)
    env.drain()
    env.pass_time(0.5)  # refund's retry back-off
    compensated = _compensated(env, run)

    child = f"{run.run_id}/1"
    assert _ran(compensated) == [
        ("2", None, True),
        ("1>1", child, False),
        ("1>0", child, True),
        ("0", None, True),
    ]
    failed = compensated.compensations[1]
    assert failed["step"] == "control.refund"
    assert "the payment provider is down" in failed["error"]
    assert "control.refund undoing control.charge at position 1>1: failed" in str(compensated)
    assert control.executions["refund:o1"] == 2  # its own retry policy: one retry
    for sku in ("hotel", "seat-o1", "car"):
        assert _released(sku) == 1, sku


def test_compensate_undoes_a_child_once(env: Env) -> None:
    run = env.start(child_sagas.undo_then_go_on)
    result: dict[str, Any] = env.result(run)

    child = f"{run.run_id}/0"
    assert [(c["for"], c["child"], c["ok"]) for c in result["undone"]] == [
        ("0>1", child, True),
        ("0>0", child, True),
    ]
    assert result["again"] == []
    assert _released("seat-u") == 1
    assert _released("meal-u") == 1


def test_start_child_runs_are_compensated_only_when_they_opt_in(env: Env) -> None:
    run = env.start(child_sagas.background_flights)
    kept, undone = f"{run.run_id}/0", f"{run.run_id}/1"
    env.settle(run, "waiting")  # both started
    env.settle(env.engine.get(kept), "completed")
    env.settle(env.engine.get(undone), "completed")
    env.engine.send_event(run.run_id, "both done")
    compensated = _compensated(env, run)

    assert _ran(compensated) == [("1>1", undone, True), ("1>0", undone, True)]
    assert _released("seat-undone") == 1
    assert _released("seat-kept") == 0


def test_a_child_that_cannot_be_replayed_is_a_failed_compensation_and_the_rest_still_run(env: Env) -> None:
    run = env.start(child_sagas.trip_with_changed_flight)
    env.drain()
    # The child completed and the parent journaled it (it waits for the event now): only then
    # does the child's code "change", so the child itself ran the old code.
    wait_until(lambda: len(env.engine.get(run.run_id).journal()) == 2, 30, "the child to complete")
    child_sagas.changed_code["flight"] = True
    try:
        env.engine.send_event(run.run_id, "code changed")
        compensated = _compensated(env, run)
    finally:
        child_sagas.changed_code["flight"] = False

    child = f"{run.run_id}/1"
    assert _ran(compensated) == [("1", child, False), ("0", None, True)]
    failed = compensated.compensations[0]
    assert failed["step"] == "child_sagas.changing_flight"
    assert f"child run {child!r} was not compensated: NonDeterminismError" in failed["error"]
    assert _released("hotel") == 1
    assert _released("seat-changing") == 0


def test_compensate_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="compensate= must be True or False, got 'no'"):
        flowgen.child(child_sagas.book_flight, "x", compensate="no")  # type: ignore[arg-type]
