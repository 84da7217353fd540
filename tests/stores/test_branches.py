"""Conformance: steps dispatched as their own messages (branch_begin / branch_finish / renew_branches)."""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.status import RunStatus
from flowgen.stores.base import Finish, Park, Snapshot, Store, WriteBranch

from .support import GRACE, TTL, T, assert_not_ready, assert_ready_at, change, started

DISPATCH = {"d": 1, "step": "charge", "args": '{"args":[],"kwargs":{}}', "workflow": "wf", "gen": 0}
OUTCOME = {"ok": True, "value": '"paid"', "started": T + 1, "finished": T + 2}


@pytest.fixture
def dispatched(store: Store) -> tuple[Store, Snapshot]:
    """A running run that dispatched attempt 1 of branch ``0/0``."""
    snapshot = started(store)
    assert store.commit(change(snapshot, WriteBranch("0/0", dict(DISPATCH))), T, GRACE).ok
    return store, snapshot


def _branch(store: Store, key: str = "0/0") -> dict[str, Any] | None:
    return store.load("r1").branches.get(key)


def test_branch_begin_starts_the_dispatched_attempt_and_returns_its_record(
    dispatched: tuple[Store, Snapshot],
) -> None:
    store, _ = dispatched

    record = store.branch_begin("r1", "0/0", 1, TTL, T + 1)

    assert record == DISPATCH
    assert _branch(store) == {**DISPATCH, "s": 1, "hb": T + 1 + TTL, "started": T + 1}


def test_branch_begin_runs_an_attempt_once(dispatched: tuple[Store, Snapshot]) -> None:
    store, _ = dispatched
    assert store.branch_begin("r1", "0/0", 1, TTL, T + 1) is not None

    assert store.branch_begin("r1", "0/0", 1, TTL, T + 2) is None
    branch = _branch(store)
    assert branch is not None and (branch["started"], branch["hb"]) == (T + 1, T + 1 + TTL)


def test_branch_begin_refuses_an_attempt_that_was_not_dispatched(dispatched: tuple[Store, Snapshot]) -> None:
    store, _ = dispatched

    assert store.branch_begin("r1", "0/0", 2, TTL, T + 1) is None
    assert store.branch_begin("r1", "0/0", 0, TTL, T + 1) is None
    assert store.branch_begin("r1", "9/9", 1, TTL, T + 1) is None
    assert store.branch_begin("nope", "0/0", 1, TTL, T + 1) is None
    assert _branch(store) == DISPATCH


def test_branch_begin_refuses_branches_of_a_finished_run(dispatched: tuple[Store, Snapshot]) -> None:
    store, snapshot = dispatched
    assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED)), T, GRACE).ok

    assert store.branch_begin("r1", "0/0", 1, TTL, T + 1) is None


def test_branch_finish_records_the_outcome_and_signals_a_running_run(
    dispatched: tuple[Store, Snapshot],
) -> None:
    store, _ = dispatched
    store.branch_begin("r1", "0/0", 1, TTL, T + 1)

    assert store.branch_finish("r1", "0/0", 1, OUTCOME, T + 2, GRACE) == []

    assert _branch(store) == {**DISPATCH, "s": 1, "hb": T + 1 + TTL, "started": T + 1, "r": OUTCOME}
    record = store.get_run("r1")
    assert record is not None and record.signals == 1


def test_branch_finish_wakes_a_waiting_run(dispatched: tuple[Store, Snapshot]) -> None:
    store, snapshot = dispatched
    store.branch_begin("r1", "0/0", 1, TTL, T + 1)
    assert store.commit(change(snapshot, Park(signals=0, timer=T + 100)), T + 1, GRACE).parked

    assert store.branch_finish("r1", "0/0", 1, OUTCOME, T + 2, GRACE) == ["r1"]

    assert_ready_at(store, "r1", T + 2 + GRACE)


def test_branch_finish_is_ignored_unless_the_attempt_started_and_is_open(
    dispatched: tuple[Store, Snapshot],
) -> None:
    store, _ = dispatched

    assert store.branch_finish("r1", "0/0", 1, OUTCOME, T + 2, GRACE) == []  # not started
    store.branch_begin("r1", "0/0", 1, TTL, T + 1)
    assert store.branch_finish("r1", "0/0", 2, OUTCOME, T + 2, GRACE) == []  # another attempt
    assert store.branch_finish("r1", "9/9", 1, OUTCOME, T + 2, GRACE) == []  # no such branch
    assert store.branch_finish("nope", "0/0", 1, OUTCOME, T + 2, GRACE) == []  # no such run
    branch = _branch(store)
    assert branch is not None and "r" not in branch
    record = store.get_run("r1")
    assert record is not None and record.signals == 0


def test_branch_finish_records_one_outcome_per_attempt(dispatched: tuple[Store, Snapshot]) -> None:
    store, snapshot = dispatched
    store.branch_begin("r1", "0/0", 1, TTL, T + 1)
    assert store.branch_finish("r1", "0/0", 1, OUTCOME, T + 2, GRACE) == []
    assert store.commit(change(snapshot, Park(signals=1)), T + 2, GRACE).parked

    assert store.branch_finish("r1", "0/0", 1, {"ok": False}, T + 3, GRACE) == []

    branch = _branch(store)
    assert branch is not None and branch["r"] == OUTCOME
    assert_not_ready(store, "r1")


def test_branch_finish_of_a_finished_run_is_ignored(dispatched: tuple[Store, Snapshot]) -> None:
    store, snapshot = dispatched
    store.branch_begin("r1", "0/0", 1, TTL, T + 1)
    assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED)), T + 1, GRACE).ok

    assert store.branch_finish("r1", "0/0", 1, OUTCOME, T + 2, GRACE) == []


def test_a_new_dispatch_replaces_the_branch_and_forgets_the_old_attempt(
    dispatched: tuple[Store, Snapshot],
) -> None:
    store, snapshot = dispatched
    store.branch_begin("r1", "0/0", 1, TTL, T + 1)
    store.branch_finish("r1", "0/0", 1, {"ok": False, "retryable": True}, T + 2, GRACE)
    retry = {**DISPATCH, "d": 2}

    assert store.commit(change(snapshot, WriteBranch("0/0", retry)), T + 3, GRACE).ok

    assert _branch(store) == retry
    assert store.branch_begin("r1", "0/0", 1, TTL, T + 4) is None
    assert store.branch_begin("r1", "0/0", 2, TTL, T + 4) == retry


def test_renew_branches_extends_the_heartbeat_of_running_attempts_only(store: Store) -> None:
    snapshot = started(store)
    branches = {key: dict(DISPATCH) for key in ("0/0", "0/1", "0/2", "0/3")}
    assert store.commit(
        change(snapshot, *(WriteBranch(key, record) for key, record in branches.items())), T, GRACE
    ).ok
    for key in ("0/0", "0/1", "0/2"):
        store.branch_begin("r1", key, 1, TTL, T + 1)
    store.branch_finish("r1", "0/2", 1, OUTCOME, T + 2, GRACE)

    store.renew_branches(
        [("r1", "0/0", 1), ("r1", "0/1", 2), ("r1", "0/2", 1), ("r1", "0/3", 1), ("nope", "0/0", 1)],
        TTL,
        T + 20,
    )

    loaded = store.load("r1").branches
    assert loaded["0/0"]["hb"] == T + 20 + TTL  # running attempt: renewed
    assert loaded["0/1"]["hb"] == T + 1 + TTL  # another attempt is running: untouched
    assert loaded["0/2"]["hb"] == T + 1 + TTL  # already reported: untouched
    assert "hb" not in loaded["0/3"]  # never started: untouched
    assert store.get_run("nope") is None


def test_renew_branches_of_nothing_is_a_no_op(store: Store) -> None:
    store.renew_branches([], TTL, T)
