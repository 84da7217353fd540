"""Conformance: taking, releasing and renewing run leases (the epoch fence's other half)."""

from __future__ import annotations

import pytest

from flowgen.errors import RunNotFoundError
from flowgen.status import RunStatus
from flowgen.stores.base import Finish, Park, Store

from .support import GRACE, TTL, T, append, assert_ready_at, change, created, entry, started


def test_acquire_takes_the_lease_of_a_queued_run_and_makes_it_running(store: Store) -> None:
    created(store)

    snapshot = store.acquire("r1", "w1", TTL, T + 1)

    assert snapshot is not None
    assert snapshot.epoch == 1
    run = snapshot.run
    assert (run.status, run.epoch, run.owner, run.lease_until, run.updated) == (
        RunStatus.RUNNING,
        1,
        "w1",
        T + 1 + TTL,
        T + 1,
    )
    assert (snapshot.journal, snapshot.open, snapshot.branches, snapshot.inbox) == ([], None, {}, {})
    assert store.get_run("r1") == run


def test_acquire_returns_none_while_another_owner_holds_a_live_lease(store: Store) -> None:
    started(store, owner="w1")

    assert store.acquire("r1", "w2", TTL, T + TTL - 0.5) is None

    record = store.get_run("r1")
    assert record is not None
    assert (record.epoch, record.owner, record.lease_until) == (1, "w1", T + TTL)


def test_acquire_by_the_same_owner_bumps_the_epoch(store: Store) -> None:
    started(store, owner="w1")

    snapshot = store.acquire("r1", "w1", TTL, T + 1)

    assert snapshot is not None and snapshot.epoch == 2


def test_acquire_takes_over_an_expired_lease_with_a_higher_epoch(store: Store) -> None:
    first = started(store, owner="w1")

    second = store.acquire("r1", "w2", TTL, T + TTL)

    assert second is not None
    assert second.epoch == 2
    assert (second.run.owner, second.run.lease_until) == ("w2", T + 2 * TTL)
    # the first owner is fenced out
    result = store.commit(change(first, append(entry(0))), T + TTL + 1, GRACE)
    assert (result.ok, result.reason) == (False, "stale")
    assert store.read_journal("r1") == []


def test_acquire_of_a_released_lease_succeeds_at_once(store: Store) -> None:
    first = started(store, owner="w1")
    store.release("r1", first.epoch)

    second = store.acquire("r1", "w2", TTL, T + 1)

    assert second is not None and second.epoch == 2 and second.run.owner == "w2"


def test_acquire_returns_none_for_a_finished_run(store: Store) -> None:
    snapshot = started(store)
    assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED, output="1")), T, GRACE).ok

    assert store.acquire("r1", "w2", TTL, T + 100) is None
    record = store.get_run("r1")
    assert record is not None and (record.status, record.epoch, record.owner) == (RunStatus.COMPLETED, 1, "")


def test_acquire_of_a_missing_run_raises(store: Store) -> None:
    with pytest.raises(RunNotFoundError):
        store.acquire("nope", "w1", TTL, T)


def test_acquire_makes_a_waiting_run_running_with_its_inbox_heads(store: Store) -> None:
    snapshot = started(store)
    park = Park(signals=snapshot.run.signals, waiting=("a", "a", "b"))
    assert store.commit(change(snapshot, park), T, GRACE).parked
    for index, event_type in enumerate(["a", "a", "a", "b", "c"]):
        store.send_event("r1", event_type, "null", f"e{index}", T + 1, GRACE)

    again = store.acquire("r1", "w1", TTL, T + 2)

    assert again is not None
    assert again.run.status == RunStatus.RUNNING and again.run.waiting == ("a", "a", "b")
    assert {t: [e.id for e in events] for t, events in again.inbox.items()} == {
        "a": ["e0", "e1"],
        "b": ["e3"],
    }


def test_acquire_keeps_a_paused_run_paused(store: Store) -> None:
    snapshot = started(store)
    assert store.commit(change(snapshot, Park(signals=0, status=RunStatus.PAUSED)), T, GRACE).parked

    again = store.acquire("r1", "w1", TTL, T + 1)

    assert again is not None and again.run.status == RunStatus.PAUSED and again.epoch == 2


def test_acquire_returns_the_journal_from_the_offset(store: Store) -> None:
    snapshot = started(store)
    entries = [entry(i) for i in range(4)]
    assert store.commit(change(snapshot, append(*entries)), T, GRACE).ok
    store.release("r1", snapshot.epoch)

    again = store.acquire("r1", "w1", TTL, T + 1, offset=2)

    assert again is not None and again.journal == entries[2:]


def test_release_drops_the_lease_and_keeps_the_run_ready(store: Store) -> None:
    snapshot = started(store)

    store.release("r1", snapshot.epoch)

    record = store.get_run("r1")
    assert record is not None
    assert (record.status, record.epoch, record.owner, record.lease_until) == (RunStatus.RUNNING, 1, "", 0.0)
    assert_ready_at(store, "r1", T + GRACE)


def test_release_with_a_stale_epoch_does_nothing(store: Store) -> None:
    created(store)
    assert store.acquire("r1", "w1", TTL, T) is not None
    assert store.acquire("r1", "w1", TTL, T + 1) is not None

    store.release("r1", 1)

    record = store.get_run("r1")
    assert record is not None and (record.epoch, record.owner, record.lease_until) == (2, "w1", T + 1 + TTL)


def test_release_of_a_missing_run_is_a_no_op(store: Store) -> None:
    store.release("nope", 1)

    assert store.get_run("nope") is None


def test_renew_extends_live_leases(store: Store) -> None:
    first = started(store, "r1")
    second = started(store, "r2")

    lost = store.renew([("r1", first.epoch), ("r2", second.epoch)], TTL, T + 20)

    assert lost == []
    for run_id in ("r1", "r2"):
        record = store.get_run(run_id)
        assert record is not None and record.lease_until == T + 20 + TTL


def test_renew_reports_lost_leases_in_order_and_leaves_them_alone(store: Store) -> None:
    live = started(store, "live")
    taken = started(store, "taken")
    assert store.acquire("taken", "w2", TTL, T + TTL) is not None
    released = started(store, "released")
    store.release("released", released.epoch)
    done = started(store, "done")
    assert store.commit(change(done, Finish(RunStatus.COMPLETED)), T, GRACE).ok

    lost = store.renew(
        [
            ("taken", taken.epoch),
            ("live", live.epoch),
            ("released", released.epoch),
            ("done", done.epoch),
            ("nope", 1),
        ],
        TTL,
        T + 5,
    )

    # "done" finished under the renewed epoch itself: not lost, just nothing left to renew.
    assert lost == ["taken", "released", "nope"]
    done_record = store.get_run("done")
    assert done_record is not None and done_record.lease_until == 0.0
    taken_record = store.get_run("taken")
    assert taken_record is not None and (taken_record.owner, taken_record.lease_until) == ("w2", T + 2 * TTL)
    released_record = store.get_run("released")
    assert released_record is not None and released_record.lease_until == 0.0


def test_renew_of_nothing_returns_nothing(store: Store) -> None:
    assert store.renew([], TTL, T) == []


def test_status_of_a_created_run_is_queued_until_acquired(store: Store) -> None:
    record = created(store)

    assert record.status == RunStatus.QUEUED
    snapshot = store.acquire("r1", "w1", TTL, T)
    assert snapshot is not None and snapshot.run.status == RunStatus.RUNNING
    assert store.commit(change(snapshot, Park(signals=0, waiting=("x",))), T, GRACE).parked
    parked = store.get_run("r1")
    assert parked is not None and parked.status == RunStatus.WAITING


def test_acquire_tells_whether_the_previous_holder_was_interrupted(store: Store) -> None:
    first = started(store, "r1")
    assert not first.interrupted, "a new run has no previous holder"
    # The holder dies: its lease expires without a park, finish or release.
    second = store.acquire("r1", "w2", TTL, T + TTL + 1)
    assert second is not None and second.interrupted
    store.release("r1", second.epoch)
    third = store.acquire("r1", "w3", TTL, T + TTL + 2)
    assert third is not None and not third.interrupted, "a released lease is a clean end"
    store.commit(change(third, Park(third.run.signals, ("go",), None)), T + TTL + 2, GRACE)
    fourth = store.acquire("r1", "w4", TTL, T + TTL + 3)
    assert fourth is not None and not fourth.interrupted, "a park is a clean end"
