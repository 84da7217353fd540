"""Conformance: step limits and rate limits on step branches (all_of/any_of members, queue=
steps), taken by ``branch_begin`` with the attempt, held under the branch's heartbeat, given back
by ``branch_finish``; the same answers from memory, SQLite and Redis."""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.status import RunStatus
from flowgen.stores.base import Finish, Park, Snapshot, Store, WriteBranch

from .support import GRACE, TTL, T, change, started

pytestmark = pytest.mark.limits

LIMIT = [["limit", "step:gpu", 1, 0]]
RATE = [["rate", "rate:api", 2, 1.0]]


def _record(gates: list[list[Any]]) -> dict[str, Any]:
    return {"d": 1, "step": "s", "args": '{"args":[],"kwargs":{}}', "workflow": "wf", "gen": 0, "g": gates}


def _dispatch(
    store: Store, gates: list[list[Any]], keys: tuple[str, ...], timer: float = T + 100
) -> Snapshot:
    """Run r1 dispatches one attempt of each branch of ``keys`` and parks (timer ``timer``)."""
    snapshot = started(store)
    writes = [WriteBranch(key, _record(gates)) for key in keys]
    assert store.commit(change(snapshot, *writes, Park(signals=0, timer=timer)), T, GRACE).parked
    return snapshot


def _branch(store: Store, key: str) -> dict[str, Any]:
    return store.load("r1").branches[key]


def test_a_branch_over_a_step_limit_is_parked_not_started(store: Store) -> None:
    _dispatch(store, LIMIT, ("0/0", "0/1"))
    assert store.branch_begin("r1", "0/0", 1, TTL, T + 1) is not None  # takes the only slot
    assert store.branch_begin("r1", "0/1", 1, TTL, T + 2) is None  # refused: not started
    parked = _branch(store, "0/1")
    assert "s" not in parked and parked["pk"] == T + 1 + TTL  # until the holder's heartbeat ends
    # the run wakes by then (its timer was T + 100), and says what it waits for
    assert store.claim_due_timers(T + 1 + TTL - 0.5, 10, GRACE) == []
    assert store.claim_due_timers(T + 1 + TTL, 10, GRACE) == ["r1"]
    flow = store.flow_status("r1")
    assert flow is not None and flow["blocked_by"] == {"gate": "step:gpu", "limit": 1, "position": 1}


def test_the_holder_s_finish_gives_the_slot_back_and_makes_the_parked_branch_due(store: Store) -> None:
    _dispatch(store, LIMIT, ("0/0", "0/1"))
    store.branch_begin("r1", "0/0", 1, TTL, T + 1)
    assert store.branch_begin("r1", "0/1", 1, TTL, T + 2) is None
    woken = store.branch_finish("r1", "0/0", 1, {"ok": True, "value": "1"}, T + 3, GRACE)
    assert woken == ["r1"]
    assert _branch(store, "0/1")["pk"] <= T + 3  # due now: the run sends it again at once
    # sent again (the same attempt, no retry spent), it takes the slot
    assert store.commit(_resend(store, "0/1"), T + 4, GRACE).ok
    assert store.branch_begin("r1", "0/1", 1, TTL, T + 4) is not None
    flow = store.flow_status("r1")
    assert flow is not None and flow["blocked_by"] is None


def _resend(store: Store, key: str) -> Any:
    snapshot = store.acquire("r1", "w1", TTL, T + 4)
    assert snapshot is not None
    return change(snapshot, WriteBranch(key, _record(LIMIT)))


def test_a_branch_slot_is_held_under_its_heartbeat_and_ends_with_it(store: Store) -> None:
    _dispatch(store, LIMIT, ("0/0", "0/1"))
    store.branch_begin("r1", "0/0", 1, TTL, T + 1)
    store.renew_branches([("r1", "0/0", 1)], TTL, T + 20)  # the slot moves with the heartbeat
    assert store.branch_begin("r1", "0/1", 1, TTL, T + TTL + 2) is None
    assert _branch(store, "0/1")["pk"] == T + 20 + TTL
    # the worker running 0/0 is killed: no renewal, no finish; the slot is free once it ends
    assert store.commit(_resend(store, "0/1"), T + 4, GRACE).ok
    assert store.branch_begin("r1", "0/1", 1, TTL, T + 20 + TTL + 0.5) is not None


def test_a_limit_is_shared_by_inline_attempts_and_branches(store: Store) -> None:
    _dispatch(store, LIMIT, ("0/0",))
    other = started(store, "r2")
    assert store.take_step("r2", other.epoch, LIMIT, T, T + TTL) is None  # an inline attempt holds it
    assert store.branch_begin("r1", "0/0", 1, TTL, T + 1) is None
    # the inline attempt ends: the branch parked behind it is made due and its run woken
    assert store.release_step("r2", ["step:gpu"], T + 2, GRACE) == ["r1"]
    assert _branch(store, "0/0")["pk"] <= T + 2


def test_branches_under_a_rate_limit_wait_for_their_tokens(store: Store) -> None:
    _dispatch(store, RATE, ("0/0", "0/1", "0/2"))
    assert store.branch_begin("r1", "0/0", 1, TTL, T) is not None
    assert store.branch_begin("r1", "0/1", 1, TTL, T + 0.1) is not None
    assert store.branch_begin("r1", "0/2", 1, TTL, T + 0.2) is None  # 2 per second: parked
    due = _branch(store, "0/2")["pk"]
    assert T + 1.0 <= due <= T + 1.1  # when the first start leaves the window
    flow = store.flow_status("r1")
    assert flow is not None and flow["blocked_by"] == {"gate": "rate:api", "limit": 2, "position": 1}
    assert store.commit(_resend_rate(store, "0/2"), T + 0.5, GRACE).ok
    assert store.branch_begin("r1", "0/2", 1, TTL, due) is not None


def _resend_rate(store: Store, key: str) -> Any:
    snapshot = store.acquire("r1", "w1", TTL, T + 0.5)
    assert snapshot is not None
    return change(snapshot, WriteBranch(key, _record(RATE)))


def test_a_refusal_while_the_run_is_being_advanced_refuses_its_park(store: Store) -> None:
    snapshot = started(store)
    writes = [WriteBranch(key, _record(LIMIT)) for key in ("0/0", "0/1")]
    assert store.commit(change(snapshot, *writes), T, GRACE).ok  # dispatched, not parked yet
    store.branch_begin("r1", "0/0", 1, TTL, T + 1)
    assert store.branch_begin("r1", "0/1", 1, TTL, T + 1) is None
    # the advance that dispatched parks with the signals it read: refused, so it sees the parking
    assert not store.commit(
        change(snapshot, Park(signals=snapshot.run.signals, timer=T + 100)), T + 1, GRACE
    ).parked


def test_a_forgotten_branch_gives_its_slot_back_at_once_not_at_its_heartbeat_s_end(store: Store) -> None:
    """A cancelled or abandoned branch (its record dropped by the run) frees its step slot in
    that commit: the parked branch is due at once, long before the holder's heartbeat ends."""
    _dispatch(store, LIMIT, ("0/0", "0/1"))
    assert store.branch_begin("r1", "0/0", 1, TTL, T + 1) is not None
    assert store.branch_begin("r1", "0/1", 1, TTL, T + 2) is None
    snapshot = store.acquire("r1", "w1", TTL, T + 3)
    assert snapshot is not None
    assert store.commit(change(snapshot, WriteBranch("0/0", None)), T + 3, GRACE).ok  # 0/0 is cancelled
    assert _branch(store, "0/1")["pk"] <= T + 3  # due now (it was due at T + 1 + TTL)
    assert store.commit(_resend(store, "0/1"), T + 4, GRACE).ok
    assert store.branch_begin("r1", "0/1", 1, TTL, T + 4) is not None  # the slot is free


@pytest.mark.one_slot  # on many shards: the slot comes back when the attempt ends (docs/scaling.md)
def test_a_run_that_ends_gives_its_branches_slots_back_and_leaves_their_lines(store: Store) -> None:
    _dispatch(store, LIMIT, ("0/0", "0/1"))
    assert store.branch_begin("r1", "0/0", 1, TTL, T + 1) is not None
    assert store.branch_begin("r1", "0/1", 1, TTL, T + 2) is None  # r1's second branch waits in line
    other = started(store, "r2", now=T + 2)
    writes = [WriteBranch("0/0", _record(LIMIT)), Park(signals=0, timer=T + 100)]
    assert store.commit(change(other, *writes), T + 2, GRACE).parked
    assert store.branch_begin("r2", "0/0", 1, TTL, T + 2) is None  # behind it
    snapshot = store.acquire("r1", "w1", TTL, T + 3)
    assert snapshot is not None
    result = store.commit(change(snapshot, Finish(RunStatus.CANCELLED)), T + 3, GRACE)  # r1 ends, 0/0 running
    assert result.ok and "r2" in result.wake  # the slot went to r2, not to r1's own forgotten branch
    assert store.load("r2").branches["0/0"]["pk"] <= T + 3


@pytest.mark.one_slot  # on many shards: the slot comes back when the attempt ends (docs/scaling.md)
def test_a_terminated_run_gives_its_running_branch_s_slot_back(store: Store) -> None:
    _dispatch(store, LIMIT, ("0/0",))
    assert store.branch_begin("r1", "0/0", 1, TTL, T + 1) is not None
    other = started(store, "r2", now=T + 2)
    writes = [WriteBranch("0/0", _record(LIMIT)), Park(signals=0, timer=T + 100)]
    assert store.commit(change(other, *writes), T + 2, GRACE).parked
    assert store.branch_begin("r2", "0/0", 1, TTL, T + 2) is None
    result = store.control("r1", "terminate", T + 3, GRACE)  # cancel(force=True), 0/0 running
    assert "r2" in result.woken
    assert store.load("r2").branches["0/0"]["pk"] <= T + 3


@pytest.mark.one_slot  # on many shards: the slot comes back when the attempt ends (docs/scaling.md)
def test_a_branch_that_started_at_once_gives_its_slot_back_when_its_run_ends(store: Store) -> None:
    # r1 has no flow document and its branch took its slot without waiting (on Redis: the branch
    # record alone ends the run's plain mark), so only the branch record says a slot is held
    _dispatch(store, LIMIT, ("0/0",))
    assert store.branch_begin("r1", "0/0", 1, TTL, T + 1) is not None
    other = started(store, "r2", now=T + 2)
    writes = [WriteBranch("0/0", _record(LIMIT)), Park(signals=0, timer=T + 100)]
    assert store.commit(change(other, *writes), T + 2, GRACE).parked
    assert store.branch_begin("r2", "0/0", 1, TTL, T + 2) is None  # behind r1's branch
    snapshot = store.acquire("r1", "w1", TTL, T + 3)
    assert snapshot is not None and "0/0" in snapshot.branches
    result = store.commit(change(snapshot, Finish(RunStatus.CANCELLED)), T + 3, GRACE)
    assert result.ok and "r2" in result.wake
