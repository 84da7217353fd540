"""Conformance: event inboxes, durable timers and the reconciler's ready index."""

from __future__ import annotations

import pytest

from flowgen.errors import RunFinishedError, RunNotFoundError
from flowgen.status import RunStatus
from flowgen.stores.base import ConsumeEvent, Finish, InboxEvent, Park, SendResult, Store

from .support import (
    FAR,
    GRACE,
    TTL,
    T,
    assert_not_ready,
    assert_ready_at,
    change,
    created,
    new_run,
    ready_due,
    started,
)


def _parked(
    store: Store, run_id: str = "r1", waiting: tuple[str, ...] = ("go",), timer: float | None = None
) -> None:
    snapshot = started(store, run_id)
    park = Park(signals=snapshot.run.signals, waiting=waiting, timer=timer)
    assert store.commit(change(snapshot, park), T, GRACE).parked


# -- send_event -------------------------------------------------------------------------------


def test_send_event_buffers_events_per_type_in_order(store: Store) -> None:
    created(store)

    results = [
        store.send_event("r1", event_type, payload, event_id, T + index, GRACE)
        for index, (event_type, payload, event_id) in enumerate(
            [("a", '"1"', "e1"), ("b", '"2"', "e2"), ("a", '"3"', "e3"), ("a", '{"x":[4]}', "e4")]
        )
    ]

    assert results == [SendResult(True, False)] * 4
    assert store.inbox("r1") == {
        "a": [
            InboxEvent("e1", '"1"', T),
            InboxEvent("e3", '"3"', T + 2),
            InboxEvent("e4", '{"x":[4]}', T + 3),
        ],
        "b": [InboxEvent("e2", '"2"', T + 1)],
    }
    record = store.get_run("r1")
    assert record is not None and record.signals == 4


def test_send_event_with_a_known_event_id_is_a_no_op(store: Store) -> None:
    created(store)
    store.send_event("r1", "a", '"first"', "same", T, GRACE)

    again = store.send_event("r1", "a", '"second"', "same", T + 1, GRACE)
    other_type = store.send_event("r1", "b", '"third"', "same", T + 2, GRACE)

    assert again == SendResult(False, False)
    assert other_type == SendResult(False, False)
    assert store.inbox("r1") == {"a": [InboxEvent("same", '"first"', T)]}
    record = store.get_run("r1")
    assert record is not None and record.signals == 1


def test_send_event_remembers_ids_after_the_event_was_consumed(store: Store) -> None:
    snapshot = started(store)
    store.send_event("r1", "a", "null", "e1", T, GRACE)
    assert store.commit(change(snapshot, ConsumeEvent("a", "e1")), T, GRACE).ok

    assert store.send_event("r1", "a", "null", "e1", T + 1, GRACE) == SendResult(False, False)
    assert store.inbox("r1") == {}


def test_send_event_wakes_a_run_waiting_for_that_type(store: Store) -> None:
    _parked(store, waiting=("go", "stop"))

    result = store.send_event("r1", "stop", "null", "e1", T + 5, GRACE)

    assert result == SendResult(True, True)
    assert_ready_at(store, "r1", T + 5 + GRACE)


def test_send_event_of_another_type_does_not_wake_a_waiting_run(store: Store) -> None:
    _parked(store, waiting=("go",))

    result = store.send_event("r1", "other", "null", "e1", T + 5, GRACE)

    assert result == SendResult(True, False)
    assert_not_ready(store, "r1")
    record = store.get_run("r1")
    assert record is not None and record.signals == 1


def test_send_event_to_a_run_that_is_not_parked_only_buffers(store: Store) -> None:
    created(store, "queued")
    started(store, "running")

    assert store.send_event("queued", "go", "null", "e1", T, GRACE) == SendResult(True, False)
    assert store.send_event("running", "go", "null", "e1", T, GRACE) == SendResult(True, False)
    assert [e.id for e in store.inbox("running")["go"]] == ["e1"]


def test_send_event_to_a_missing_run_raises(store: Store) -> None:
    with pytest.raises(RunNotFoundError):
        store.send_event("nope", "go", "null", "e1", T, GRACE)


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.FAILED])
def test_send_event_to_a_finished_run_raises(store: Store, status: str) -> None:
    snapshot = started(store)
    assert store.commit(change(snapshot, Finish(status)), T, GRACE).ok

    with pytest.raises(RunFinishedError, match=status):
        store.send_event("r1", "go", "null", "e1", T + 1, GRACE)
    assert store.inbox("r1") == {}


def test_inbox_of_a_run_without_events_is_empty(store: Store) -> None:
    created(store)

    assert store.inbox("r1") == {}
    assert store.inbox("nope") == {}


# -- timers -----------------------------------------------------------------------------------


def test_claim_due_timers_claims_due_runs_in_due_order_up_to_the_limit(store: Store) -> None:
    _parked(store, "late", timer=T + 30)
    _parked(store, "b", timer=T + 10)
    _parked(store, "a", timer=T + 10)
    _parked(store, "first", timer=T + 5)

    assert store.claim_due_timers(T + 4.999, 10, GRACE) == []
    assert store.claim_due_timers(T + 20, 2, GRACE) == ["first", "a"]
    assert store.claim_due_timers(T + 20, 10, GRACE) == ["b"]
    assert store.claim_due_timers(T + 20, 10, GRACE) == []
    assert store.next_timer() == T + 30


def test_claim_due_timers_includes_a_timer_due_exactly_now(store: Store) -> None:
    _parked(store, timer=T + 10)

    assert store.claim_due_timers(T + 10, 10, GRACE) == ["r1"]
    assert store.next_timer() is None


def test_claimed_timers_move_their_runs_to_the_ready_index(store: Store) -> None:
    _parked(store, timer=T + 10)
    assert_not_ready(store, "r1")

    store.claim_due_timers(T + 12, 10, GRACE)

    assert_ready_at(store, "r1", T + 12 + GRACE)


def test_next_timer_is_the_earliest_due_time(store: Store) -> None:
    assert store.next_timer() is None
    _parked(store, "a", timer=T + 30)
    _parked(store, "b", timer=T + 7.25)

    assert store.next_timer() == T + 7.25


def test_a_run_has_one_timer_that_a_new_park_replaces(store: Store) -> None:
    _parked(store, timer=T + 30)
    again = store.acquire("r1", "w1", TTL, T + 1)
    assert again is not None

    assert store.commit(change(again, Park(signals=0, timer=T + 60)), T + 1, GRACE).parked

    assert store.next_timer() == T + 60
    assert store.claim_due_timers(T + 40, 10, GRACE) == []


# -- the reconciler -------------------------------------------------------------------------


def test_reconcile_returns_runs_that_were_not_started_within_grace(store: Store) -> None:
    created(store, "r1")

    assert ready_due(store, T + GRACE - 1) == []
    assert ready_due(store, T + GRACE) == ["r1"]
    # re-scored: it is returned again only after another grace period
    assert ready_due(store, T + 2 * GRACE - 1) == []
    assert ready_due(store, T + 2 * GRACE) == ["r1"]


def test_reconcile_skips_a_live_lease_and_checks_again_when_it_expires(store: Store) -> None:
    started(store)  # ready score T + GRACE, lease until T + TTL (TTL > GRACE)

    assert ready_due(store, T + GRACE) == []
    assert ready_due(store, T + TTL - 1) == []  # re-scored to the lease's end
    assert ready_due(store, T + TTL) == ["r1"]  # the lease expired: stale
    assert ready_due(store, T + TTL + GRACE - 1) == []
    assert ready_due(store, T + TTL + GRACE) == ["r1"]


def test_reconcile_returns_a_run_whose_lease_was_released(store: Store) -> None:
    snapshot = started(store)
    store.release("r1", snapshot.epoch)

    assert ready_due(store, T + GRACE) == ["r1"]


def test_reconcile_respects_the_limit_in_score_order(store: Store) -> None:
    for index, run_id in enumerate(["c", "a", "b"]):
        store.create_run(new_run(run_id), T + index, GRACE)

    assert store.reconcile(FAR, 2, GRACE) == ["c", "a"]
    assert store.reconcile(FAR, 2, GRACE) == ["b"]


def test_reconcile_leaves_runs_that_are_still_behind_the_queues_backlog(store: Store) -> None:
    store.create_run(new_run("early"), T, GRACE)
    store.create_run(new_run("late"), T + 10, GRACE)
    now = T + 10 + GRACE

    # The oldest waiting message was enqueued 6 s ago (at T + 4 + GRACE): "late" was enqueued
    # after it, so its message is still in the queue; "early" was enqueued long before it.
    assert store.reconcile(now, 1000, GRACE, backlog=6) == ["early"]
    assert store.reconcile(now, 1000, GRACE, backlog=6) == []  # "early" was re-scored
    # Once the queue has caught up, "late" is overdue like any run.
    assert store.reconcile(now, 1000, GRACE, backlog=0) == ["late"]


def test_reconcile_checks_leases_at_now_not_at_the_backlog_cutoff(store: Store) -> None:
    started(store)  # lease until T + TTL
    assert ready_due(store, T + GRACE) == []  # re-scored to the lease's end, T + TTL

    # Cut off at T + TTL (backlog 3 s), but the lease ended 3 s ago: the run was abandoned.
    assert store.reconcile(T + TTL + 3, 1000, GRACE, backlog=3) == ["r1"]


def test_reconcile_returns_a_run_when_its_lease_ends_however_late_its_ready_score(store: Store) -> None:
    # Started by a client whose grace is long: its ready score is long after the lease's end.
    store.create_run(new_run("r1"), T, 10 * TTL)
    assert store.acquire("r1", "w1", TTL, T) is not None

    assert ready_due(store, T + TTL - 1) == []
    assert ready_due(store, T + TTL) == ["r1"], "its worker died: moved as soon as the lease ended"
    assert ready_due(store, T + TTL + GRACE - 1) == [], "returned once, then ready like a new message"
    assert ready_due(store, T + TTL + GRACE) == ["r1"]


def test_reconcile_returns_a_run_when_its_lease_ends_whatever_the_backlog(store: Store) -> None:
    # A leased run's message was consumed: a queue 1,000 s behind says nothing about it.
    started(store)
    assert store.reconcile(T + TTL - 1, 1000, GRACE, backlog=1000) == []
    assert store.reconcile(T + TTL, 1000, GRACE, backlog=1000) == ["r1"]
    assert store.reconcile(T + TTL + 1, 1000, GRACE, backlog=1000) == []


def test_reconcile_follows_a_renewed_lease(store: Store) -> None:
    snapshot = started(store)
    assert store.renew([("r1", snapshot.epoch)], TTL, T + TTL - 1) == []  # now until T + 2 TTL - 1

    assert store.reconcile(T + TTL, 1000, GRACE, backlog=1000) == []
    assert store.reconcile(T + 2 * TTL - 2, 1000, GRACE, backlog=1000) == []
    assert store.reconcile(T + 2 * TTL - 1, 1000, GRACE, backlog=1000) == ["r1"]


def test_reconcile_leaves_runs_whose_lease_ended_cleanly_to_the_ready_index(store: Store) -> None:
    _parked(store, "parked", waiting=("go",))
    done = started(store, "done")
    assert store.commit(change(done, Finish(RunStatus.COMPLETED)), T, GRACE).ok
    released = started(store, "released")
    store.release("released", released.epoch)
    created(store, "paused")
    store.control("paused", "pause", T, GRACE)
    assert store.acquire("paused", "w1", TTL, T) is not None  # a stale message; its worker dies

    # Past every lease, with a backlog: nothing; the released run's message may still be queued.
    assert store.reconcile(T + TTL, 1000, GRACE, backlog=TTL) == []
    assert ready_due(store, T + TTL) == ["released"]
    assert ready_due(store, FAR) == ["released"], "a paused run is never enqueued by the reconciler"


def test_reconcile_ignores_parked_and_finished_runs(store: Store) -> None:
    _parked(store, "parked", waiting=("go",))
    done = started(store, "done")
    assert store.commit(change(done, Finish(RunStatus.COMPLETED)), T, GRACE).ok

    assert ready_due(store, FAR) == []
