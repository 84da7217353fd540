"""Conformance: the fenced commit (the guard and preconditions first, then its operations in order)."""

from __future__ import annotations

import pytest

from flowgen.errors import RunNotFoundError
from flowgen.status import RunStatus
from flowgen.stores.base import (
    Commit,
    CommitResult,
    ConsumeEvent,
    DeliverCancel,
    Finish,
    NewGeneration,
    Park,
    SetOpen,
    SetStatus,
    Snapshot,
    StartAttempt,
    Store,
    WriteBranch,
)

from .support import (
    GRACE,
    TTL,
    T,
    append,
    assert_not_ready,
    assert_ready_at,
    change,
    created,
    entry,
    open_entry,
    started,
    state,
)


@pytest.fixture
def busy(store: Store) -> tuple[Store, Snapshot]:
    """A running run with two journal entries, an open entry, a branch and two events in its inbox."""
    snapshot = started(store)
    store.send_event("r1", "go", '"p1"', "e1", T, GRACE)
    store.send_event("r1", "go", '"p2"', "e2", T, GRACE)
    result = store.commit(
        change(
            snapshot,
            append(entry(0), entry(1)),
            SetOpen(open_entry(2)),
            WriteBranch("2/0", {"d": 1, "step": "s"}),
        ),
        T,
        GRACE,
    )
    assert result.ok
    again = store.acquire("r1", "w1", TTL, T + 1)
    assert again is not None
    return store, again


def _refused(store: Store, commit: Commit, reason: str) -> None:
    before = state(store, commit.run_id)
    result = store.commit(commit, T + 2, GRACE)
    assert result == CommitResult(False, reason)
    assert state(store, commit.run_id) == before


def _everything(
    snapshot: Snapshot,
    *,
    consume: tuple[ConsumeEvent, ...] = (ConsumeEvent("go", "e1"),),
    epoch: int | None = None,
    position: int | None = None,
) -> Commit:
    """A commit with an operation of every kind: each would write if the commit were applied."""
    return change(
        snapshot,
        append(entry(2)),
        SetOpen(None),
        StartAttempt(open_entry(3)),
        *consume,
        WriteBranch("2/0", None),
        WriteBranch("3/0", {"d": 1}),
        SetStatus(RunStatus.PAUSED),
        DeliverCancel(),
        NewGeneration('{"args":[2],"kwargs":{}}'),
        Finish(RunStatus.COMPLETED, output="1"),
        epoch=epoch,
        position=position,
    )


def test_commit_with_a_stale_epoch_writes_nothing(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy
    _refused(store, _everything(snapshot, epoch=snapshot.epoch - 1), "stale")


def test_commit_after_the_lease_was_released_writes_nothing(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy
    store.release("r1", snapshot.epoch)
    _refused(store, _everything(snapshot), "stale")


def test_commit_to_a_finished_run_writes_nothing(store: Store) -> None:
    snapshot = started(store)
    assert store.commit(change(snapshot, Finish(RunStatus.FAILED, error={"type": "E"})), T, GRACE).ok
    _refused(
        store,
        change(snapshot, append(entry(0)), Finish(RunStatus.COMPLETED, output="1"), position=0),
        "stale",
    )


def test_commit_at_the_wrong_position_writes_nothing(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy
    _refused(store, _everything(snapshot, position=1), "conflict")
    _refused(store, _everything(snapshot, position=3), "conflict")


def test_commit_consuming_events_that_are_not_the_inbox_head_writes_nothing(
    busy: tuple[Store, Snapshot],
) -> None:
    store, snapshot = busy
    go = [ConsumeEvent("go", event_id) for event_id in ("e1", "e2", "e3")]
    _refused(store, _everything(snapshot, consume=(go[1],)), "conflict")
    _refused(store, _everything(snapshot, consume=(go[0], go[2])), "conflict")
    _refused(store, _everything(snapshot, consume=tuple(go)), "conflict")
    _refused(store, _everything(snapshot, consume=(ConsumeEvent("other", "e1"),)), "conflict")


def test_commit_to_a_missing_run_raises(store: Store) -> None:
    with pytest.raises(RunNotFoundError):
        store.commit(Commit(run_id="nope", epoch=1, position=0), T, GRACE)


def test_commit_appends_opens_consumes_and_writes_branches_in_one_step(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy
    opened = open_entry(3, "next", due=T + 60)

    result = store.commit(
        change(
            snapshot,
            append(entry(2, "closed")),
            SetOpen(opened),
            ConsumeEvent("go", "e1"),
            WriteBranch("2/0", None),
            WriteBranch("3/0", {"d": 1, "step": "x"}),
        ),
        T + 2,
        GRACE,
    )

    assert result == CommitResult(True)
    assert store.read_journal("r1") == [entry(0), entry(1), entry(2, "closed")]
    loaded = store.load("r1", ("go",), None)
    assert loaded.open == opened
    assert [event.id for event in loaded.inbox["go"]] == ["e2"]
    assert loaded.branches == {"3/0": {"d": 1, "step": "x"}}
    record = loaded.run
    assert (record.journal_length, record.status, record.updated, record.owner) == (
        3,
        RunStatus.RUNNING,
        T + 2,
        "w1",
    )


def test_commit_consumes_several_events_of_one_type_in_order(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy

    assert store.commit(change(snapshot, ConsumeEvent("go", "e1"), ConsumeEvent("go", "e2")), T + 2, GRACE).ok

    assert store.inbox("r1") == {}


def test_commit_keeps_the_open_entry_unless_told(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy

    assert store.commit(change(snapshot, append(entry(2))), T + 2, GRACE).ok
    assert store.load("r1").open == open_entry(2)

    assert store.commit(change(snapshot, SetOpen(None), position=3), T + 3, GRACE).ok
    loaded = store.load("r1")
    assert loaded.open is None and loaded.run.open is None


def test_commit_sets_the_status(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy

    assert store.commit(change(snapshot, SetStatus("compensating")), T + 2, GRACE).ok

    record = store.get_run("r1")
    assert record is not None and record.status == "compensating"
    assert [r.run_id for r in store.list_runs(status="compensating")] == ["r1"]


def test_commit_keeps_the_lease_without_park_or_finish(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy

    assert store.commit(change(snapshot, append(entry(2))), T + 2, GRACE).ok
    # the same epoch can keep writing
    assert store.commit(change(snapshot, append(entry(3)), position=3), T + 3, GRACE).ok
    record = store.get_run("r1")
    assert record is not None and (record.owner, record.epoch, record.journal_length) == (
        "w1",
        snapshot.epoch,
        4,
    )


def test_park_is_refused_when_signals_changed_but_the_rest_is_written(store: Store) -> None:
    snapshot = started(store)
    store.send_event("r1", "late", "null", "e1", T + 1, GRACE)

    result = store.commit(
        change(
            snapshot,
            append(entry(0)),
            SetOpen(open_entry(1)),
            Park(signals=snapshot.run.signals, waiting=("go",), timer=T + 50),
        ),
        T + 2,
        GRACE,
    )

    assert result == CommitResult(True, parked=False)
    record = store.get_run("r1")
    assert record is not None
    assert (record.status, record.owner, record.waiting, record.journal_length) == (
        RunStatus.RUNNING,
        "w1",
        (),
        1,
    )
    assert store.load("r1").open == open_entry(1)
    assert store.next_timer() is None
    # still in the ready index, where it was put at creation
    store.release("r1", snapshot.epoch)
    assert_ready_at(store, "r1", T + GRACE)


def test_park_sets_the_timer_and_the_wait_and_clears_the_lease_and_ready_entry(store: Store) -> None:
    snapshot = started(store)

    result = store.commit(
        change(
            snapshot,
            append(entry(0)),
            Park(signals=snapshot.run.signals, waiting=("go", "stop"), timer=T + 50),
        ),
        T + 2,
        GRACE,
    )

    assert result == CommitResult(True, parked=True)
    record = store.get_run("r1")
    assert record is not None
    assert (record.status, record.waiting, record.owner, record.lease_until) == (
        RunStatus.WAITING,
        ("go", "stop"),
        "",
        0.0,
    )
    assert store.next_timer() == T + 50
    assert [r.run_id for r in store.list_runs(status=RunStatus.WAITING)] == ["r1"]
    assert_not_ready(store, "r1")


def test_park_with_another_status(store: Store) -> None:
    snapshot = started(store)

    assert store.commit(change(snapshot, Park(signals=0, status=RunStatus.PAUSED)), T, GRACE).parked

    record = store.get_run("r1")
    assert record is not None and record.status == RunStatus.PAUSED


def test_park_without_a_timer_removes_the_previous_timer(store: Store) -> None:
    snapshot = started(store)
    assert store.commit(change(snapshot, Park(signals=0, timer=T + 50)), T, GRACE).parked
    again = store.acquire("r1", "w1", TTL, T + 1)
    assert again is not None

    assert store.commit(change(again, Park(signals=0, waiting=("go",))), T + 1, GRACE).parked

    assert store.next_timer() is None
    assert store.claim_due_timers(T + 100, 10, GRACE) == []


def test_finish_completes_the_run_and_clears_everything_it_held(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy
    assert store.commit(
        change(snapshot, Park(signals=snapshot.run.signals, waiting=("x",), timer=T + 50)), T, GRACE
    ).parked
    again = store.acquire("r1", "w1", TTL, T + 3)
    assert again is not None

    result = store.commit(
        change(again, append(entry(2)), SetOpen(None), Finish(RunStatus.COMPLETED, output='{"a":1}')),
        T + 4,
        GRACE,
    )

    assert result == CommitResult(True)
    record = store.get_run("r1")
    assert record is not None
    assert (record.status, record.output, record.error, record.finished, record.updated) == (
        RunStatus.COMPLETED,
        '{"a":1}',
        None,
        T + 4,
        T + 4,
    )
    assert (record.owner, record.lease_until, record.open, record.waiting, record.journal_length) == (
        "",
        0.0,
        None,
        (),
        3,
    )
    assert store.next_timer() is None
    assert store.inbox("r1") == {}
    assert store.load("r1").branches == {}
    assert store.read_journal("r1") == [entry(0), entry(1), entry(2)]
    assert_not_ready(store, "r1")


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.CANCELLED])
def test_finish_records_the_error(store: Store, status: str) -> None:
    snapshot = started(store)
    error = {"type": "ValueError", "module": "builtins", "message": "bad", "traceback": "..."}

    assert store.commit(change(snapshot, Finish(status, error=error)), T + 1, GRACE).ok

    record = store.get_run("r1")
    assert record is not None and (record.status, record.error, record.output) == (status, error, None)


def _parked_parent(store: Store) -> Snapshot:
    parent = started(store, "parent")
    assert store.commit(change(parent, Park(signals=parent.run.signals)), T, GRACE).parked
    child = started(store, "parent/child", parent="parent")
    return child


def test_finish_wakes_a_waiting_parent(store: Store) -> None:
    child = _parked_parent(store)

    result = store.commit(change(child, Finish(RunStatus.COMPLETED, output="1")), T + 1, GRACE)

    assert result == CommitResult(True, wake=("parent",))
    parent = store.get_run("parent")
    assert parent is not None and parent.signals == 1 and parent.status == RunStatus.WAITING
    assert_ready_at(store, "parent", T + 1 + GRACE)


def test_finish_signals_a_running_parent_without_waking_it(store: Store) -> None:
    parent = started(store, "parent")
    child = started(store, "parent/child", parent="parent")

    result = store.commit(change(child, Finish(RunStatus.COMPLETED, output="1")), T + 1, GRACE)

    assert result == CommitResult(True)
    record = store.get_run("parent")
    assert record is not None and record.signals == 1
    # the parent's pending park (decided before the child finished) is refused
    assert store.commit(change(parent, Park(signals=0)), T + 2, GRACE) == CommitResult(True, parked=False)


def test_finish_leaves_a_finished_or_missing_parent_alone(store: Store) -> None:
    parent = started(store, "parent")
    assert store.commit(change(parent, Finish(RunStatus.CANCELLED)), T, GRACE).ok
    child = started(store, "parent/child", parent="parent")
    orphan = started(store, "gone/orphan", parent="gone")

    assert store.commit(change(child, Finish(RunStatus.COMPLETED)), T + 1, GRACE) == CommitResult(True)
    assert store.commit(change(orphan, Finish(RunStatus.COMPLETED)), T + 1, GRACE) == CommitResult(True)
    record = store.get_run("parent")
    assert record is not None and record.signals == 0
    assert store.get_run("gone") is None


def test_a_commit_after_finish_is_refused(store: Store) -> None:
    snapshot = started(store)
    assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED)), T, GRACE).ok

    assert store.commit(change(snapshot), T + 1, GRACE) == CommitResult(False, "stale")


def test_created_run_has_no_lease_to_commit_under(store: Store) -> None:
    created(store)

    assert store.commit(
        Commit(run_id="r1", epoch=0, position=0, operations=[append(entry(0))]), T, GRACE
    ) == CommitResult(False, "stale")
    assert store.read_journal("r1") == []


# -- operations are applied in order ------------------------------------------------------


def test_a_park_or_finish_that_is_not_the_last_operation_is_refused_before_reaching_a_store() -> None:
    for terminal in (Park(signals=0), Finish(RunStatus.COMPLETED)):
        with pytest.raises(ValueError, match=f"{type(terminal).__name__} ends a commit"):
            Commit("r1", 1, 0, [terminal, SetOpen(None)])


def test_operations_after_a_new_generation_write_the_new_generation(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy
    opened = open_entry(1, "next")

    result = store.commit(
        change(
            snapshot, NewGeneration('{"args":[2],"kwargs":{}}'), append(entry(0, "first")), SetOpen(opened)
        ),
        T + 2,
        GRACE,
    )

    assert result.ok
    record = store.get_run("r1")
    assert (record.generation, record.journal_length, record.args) == (1, 1, '{"args":[2],"kwargs":{}}')
    assert [e.name for e in store.read_journal("r1")] == ["first"]
    assert store.load("r1").open == opened


def test_the_last_write_of_a_branch_or_the_open_entry_wins(busy: tuple[Store, Snapshot]) -> None:
    store, snapshot = busy
    result = store.commit(
        change(
            snapshot,
            WriteBranch("2/0", None),
            WriteBranch("2/0", {"d": 2, "step": "again"}),
            SetOpen(None),
            SetOpen(open_entry(2, "last")),
        ),
        T + 2,
        GRACE,
    )
    assert result.ok
    after = store.load("r1")
    assert after.branches == {"2/0": {"d": 2, "step": "again"}}
    assert after.open == open_entry(2, "last")


def test_a_start_attempt_is_held_by_a_cancel_pending_when_the_commit_began(store: Store) -> None:
    # Delivering the cancellation in the same commit does not let the attempt start: the
    # runtime decided to start it before it knew of the request (it learns of it from `held`).
    snapshot = started(store)
    store.control("r1", "cancel", T + 1, GRACE)
    result = store.commit(change(snapshot, DeliverCancel(), StartAttempt(open_entry(0))), T + 2, GRACE)
    assert result.ok and result.held and result.cancel_requested == "delivered"
    assert store.load("r1").open is None


def test_a_commit_of_more_than_8000_entries_is_stored_whole(store: Store) -> None:
    """Lua's unpack() fails beyond about 8,000 values: commit.lua appends in slices (issue 12)."""
    snapshot = started(store)
    entries = [entry(position) for position in range(8_001)]
    assert store.commit(change(snapshot, append(*entries)), T, GRACE).ok
    assert store.get_run("r1").journal_length == 8_001
    assert store.read_journal("r1") == entries
