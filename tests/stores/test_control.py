"""Conformance: control requests, resets with history, children, and the commit's control fields."""

from __future__ import annotations

import pytest

from flowgen.errors import RunFinishedError, RunNotFoundError, RunStateError
from flowgen.journal import Attempt, LeafState, OpenEntry
from flowgen.stores.base import (
    DeliverCancel,
    Finish,
    NewGeneration,
    Park,
    SetOpen,
    StartAttempt,
    Store,
)

from .support import (
    FAR,
    GRACE,
    TTL,
    T,
    append,
    assert_not_ready,
    assert_ready_at,
    change,
    created,
    entry,
    new_run,
    started,
)


def parked(store: Store, run_id: str = "r1", timer: float | None = T + 100) -> None:
    snapshot = started(store, run_id)
    result = store.commit(
        change(snapshot, append(entry(0)), Park(snapshot.run.signals, ("go",), timer)), T, GRACE
    )
    assert result.parked


def test_pause_of_a_parked_run_pauses_it_at_once_and_drops_its_timer(store: Store) -> None:
    parked(store)
    result = store.control("r1", "pause", T + 1, GRACE)
    assert (result.before, result.after, result.wake) == ("waiting", "paused", False)
    record = store.get_run("r1")
    assert record is not None and record.status == "paused" and record.pause_requested
    assert record.waiting == ()
    assert store.claim_due_timers(FAR, 10, GRACE) == []
    assert_not_ready(store, "r1")


def test_pause_of_a_leased_run_only_flags_it_and_the_commit_reports_it(store: Store) -> None:
    snapshot = started(store)
    result = store.control("r1", "pause", T + 1, GRACE)
    assert result.after == "running"
    commit = store.commit(change(snapshot, append(entry(0))), T + 2, GRACE)
    assert commit.ok and commit.pause_requested
    parked_paused = store.commit(
        change(snapshot, Park(store.get_run("r1").signals, (), None, "paused"), position=1), T + 3, GRACE
    )
    assert parked_paused.parked and store.get_run("r1").status == "paused"


def test_a_step_attempt_is_held_while_a_pause_or_cancel_is_pending(store: Store) -> None:
    snapshot = started(store)
    store.control("r1", "cancel", T + 1, GRACE)
    leaf = LeafState(kind="step", name="s", attempts=[Attempt(1, T + 2)])
    opened = OpenEntry(1, "step", "s", T + 2, {"": leaf})
    result = store.commit(change(snapshot, append(entry(0)), StartAttempt(opened)), T + 2, GRACE)
    assert result.ok and result.held and result.cancel_requested == "requested"
    after = store.load("r1", (), 0)
    assert len(after.journal) == 1, "the rest of the commit is written"
    assert after.open is None, "the attempt was not recorded as started"
    plain = store.commit(change(snapshot, SetOpen(opened), position=1), T + 3, GRACE)
    assert plain.ok and not plain.held and store.load("r1").open == opened


def test_resume_queues_a_paused_run_and_rejects_others(store: Store) -> None:
    parked(store)
    with pytest.raises(RunStateError, match="not paused"):
        store.control("r1", "resume", T + 1, GRACE)
    store.control("r1", "pause", T + 1, GRACE)
    result = store.control("r1", "resume", T + 2, GRACE)
    assert (result.before, result.after, result.wake) == ("paused", "queued", True)
    assert not store.get_run("r1").pause_requested
    assert_ready_at(store, "r1", T + 2 + GRACE)


def test_resume_withdraws_a_pending_pause(store: Store) -> None:
    started(store)
    store.control("r1", "pause", T + 1, GRACE)
    result = store.control("r1", "resume", T + 2, GRACE)
    assert result.after == "running" and not result.wake
    assert not store.get_run("r1").pause_requested


def test_cancel_flags_and_wakes_a_parked_run_and_overrides_a_pause(store: Store) -> None:
    parked(store)
    store.control("r1", "pause", T + 1, GRACE)
    result = store.control("r1", "cancel", T + 2, GRACE)
    assert result.wake and result.after == "queued"
    record = store.get_run("r1")
    assert record.cancel_requested == "requested" and not record.pause_requested
    assert_ready_at(store, "r1", T + 2 + GRACE)
    again = store.control("r1", "cancel", T + 3, GRACE)
    assert not again.wake, "a second cancel changes nothing"


def test_cancel_delivered_is_recorded_by_the_commit(store: Store) -> None:
    snapshot = started(store)
    store.control("r1", "cancel", T + 1, GRACE)
    result = store.commit(change(snapshot, append(entry(0)), DeliverCancel()), T + 2, GRACE)
    assert result.cancel_requested == "delivered"
    assert store.get_run("r1").cancel_requested == "delivered"


def test_terminate_finishes_the_run_fences_its_worker_and_wakes_the_parent(store: Store) -> None:
    parent = started(store, "parent")
    store.commit(change(parent, Park(parent.run.signals, (), None)), T, GRACE)
    store.create_run(new_run("parent/child", parent="parent"), T, GRACE)
    child = store.acquire("parent/child", "w2", TTL, T)
    result = store.control("parent/child", "terminate", T + 1, GRACE)
    assert (result.after, result.parent) == ("cancelled", "parent")
    record = store.get_run("parent/child")
    assert record.status == "cancelled" and record.finished == T + 1
    assert record.error["type"] == "flowgen.errors:CancelledError"
    assert not store.commit(change(child, append(entry(0))), T + 2, GRACE).ok
    assert store.wait_finished("parent/child", 0.1).status == "cancelled"
    with pytest.raises(RunFinishedError):
        store.control("parent/child", "pause", T + 3, GRACE)


def test_cancelling_a_cancelled_run_is_a_no_op_and_other_finished_runs_refuse(store: Store) -> None:
    parked(store)
    store.control("r1", "terminate", T + 1, GRACE)
    before = store.get_run("r1")
    for action in ("cancel", "terminate"):
        result = store.control("r1", action, T + 2, GRACE)
        assert (result.before, result.after, result.wake, result.parent) == (
            "cancelled",
            "cancelled",
            False,
            None,
        )
    after = store.get_run("r1")
    assert (after.epoch, after.signals, after.updated, after.finished) == (
        before.epoch,
        before.signals,
        before.updated,
        before.finished,
    ), "a repeated cancel changes nothing"
    for action in ("pause", "resume"):
        with pytest.raises(RunFinishedError, match="already finished"):
            store.control("r1", action, T + 3, GRACE)

    completed = started(store, "r2")
    store.commit(change(completed, Finish("completed", output='"done"')), T, GRACE)
    for action in ("cancel", "terminate"):
        with pytest.raises(RunFinishedError, match=r"already finished \(completed\)"):
            store.control("r2", action, T + 1, GRACE)


def test_a_cancel_pending_when_the_run_completes_stays_recorded(store: Store) -> None:
    snapshot = started(store)
    store.control("r1", "cancel", T + 1, GRACE)
    store.commit(change(snapshot, Finish("completed", output='"done"')), T + 2, GRACE)
    record = store.get_run("r1")
    assert record.status == "completed" and record.cancel_requested == "requested"


def test_control_of_a_missing_run_raises(store: Store) -> None:
    with pytest.raises(RunNotFoundError):
        store.control("nope", "pause", T, GRACE)


def test_children_are_recorded_at_creation_and_listed_by_id(store: Store) -> None:
    created(store, "parent")
    store.create_runs(
        [new_run("parent/c2", parent="parent"), new_run("parent/c1", parent="parent"), new_run("other")],
        T,
        GRACE,
    )
    # by id on every store (the lockstep test found memory's)
    assert store.children("parent") == ["parent/c1", "parent/c2"]
    assert store.children("parent/c1") == []


def test_restart_archives_the_journal_and_starts_a_new_generation(store: Store) -> None:
    snapshot = started(store)
    store.send_event("r1", "go", '"x"', "e1", T, GRACE)
    store.commit(
        change(snapshot, append(entry(0), entry(1)), Finish("completed", output='"out"')),
        T + 1,
        GRACE,
    )
    record = store.reset("r1", "restart", T + 2, GRACE)
    assert (record.status, record.generation, record.journal_length) == ("queued", 1, 0)
    assert record.output is None and record.finished is None and record.epoch == snapshot.epoch + 1
    assert store.read_journal("r1") == []
    assert store.inbox("r1") == {}
    history = store.history("r1")
    assert len(history) == 1
    assert (history[0]["mode"], history[0]["status"], history[0]["generation"]) == ("restart", "completed", 0)
    assert [item["pos"] for item in history[0]["entries"]] == [0, 1]
    assert_ready_at(store, "r1", T + 2 + GRACE)
    assert store.acquire("r1", "w2", TTL, T + 3) is not None
    assert store.wait_finished("r1", 0.05) is None, "result() waits for the new generation"


def test_the_archived_generation_keeps_its_values_exactly(store: Store) -> None:
    # Found by the lockstep test: Redis archived an empty journal as {} (Lua's empty table) and
    # re-encoded times with 14 significant digits.
    created(store)
    store.reset("r1", "restart", T + 0.123456789, GRACE)
    snapshot = store.acquire("r1", "w1", TTL, T + 1)
    assert snapshot is not None
    error = {"type": "builtins:ValueError", "message": "m", "ratio": 0.1 + 0.2}
    store.commit(change(snapshot, append(entry(0)), Finish("failed", error=error)), T + 1.987654321, GRACE)
    store.reset("r1", "retry", T + 3, GRACE, truncate_to=0)

    first, second = store.history("r1")
    assert first == {
        "mode": "restart",
        "generation": 0,
        "status": "queued",
        "output": None,
        "error": None,
        "finished": None,
        "archived": T + 0.123456789,
        "entries": [],
    }
    assert (second["finished"], second["error"], second["entries"]) == (
        T + 1.987654321,
        error,
        [entry(0).to_dict()],
    )


def test_an_entry_at_the_wrong_position_is_archived_as_the_journal_reads_it(store: Store) -> None:
    # Found by the lockstep test: Redis archived the raw entry (position 0 at index 1) while the
    # other stores archived the malformed stand-in their journal reads give.
    snapshot = started(store)
    store.commit(change(snapshot, append(entry(0), entry(0))), T + 1, GRACE)
    read = [(item.position, item.kind) for item in store.read_journal("r1")]
    assert read == [(0, "step"), (1, "malformed")]
    store.reset("r1", "restart", T + 2, GRACE)
    (archived,) = store.history("r1")
    assert [(item["pos"], item["kind"]) for item in archived["entries"]] == read


def test_restart_fences_a_worker_still_advancing_the_run(store: Store) -> None:
    snapshot = started(store)
    store.reset("r1", "restart", T + 1, GRACE)
    assert not store.commit(change(snapshot, append(entry(0))), T + 2, GRACE).ok


def test_retry_cuts_the_journal_of_a_failed_run(store: Store) -> None:
    snapshot = started(store)
    store.send_event("r1", "later", '"kept"', "e1", T, GRACE)
    failed = Finish("failed", error={"type": "builtins:ValueError", "message": "x"})
    store.commit(change(snapshot, append(entry(0), entry(1), entry(2)), failed), T + 1, GRACE)
    record = store.reset("r1", "retry", T + 2, GRACE, truncate_to=2)
    assert (record.status, record.generation, record.journal_length, record.error) == ("queued", 0, 2, None)
    assert [e.position for e in store.read_journal("r1")] == [0, 1]
    assert store.history("r1")[0]["mode"] == "retry"
    assert "later" not in store.inbox("r1"), "finishing dropped the inbox"


def test_retry_of_a_run_that_did_not_fail_is_refused(store: Store) -> None:
    started(store)
    with pytest.raises(RunStateError, match="only a failed run"):
        store.reset("r1", "retry", T, GRACE, truncate_to=0)
    assert store.history("r1") == []


def test_continue_as_new_empties_the_journal_and_starts_a_generation(store: Store) -> None:
    snapshot = started(store)
    store.commit(change(snapshot, append(entry(0), entry(1))), T, GRACE)
    result = store.commit(
        change(snapshot, SetOpen(None), NewGeneration('{"args":[2],"kwargs":{}}'), position=2), T + 1, GRACE
    )
    assert result.ok
    record = store.get_run("r1")
    assert (record.generation, record.journal_length, record.args) == (1, 0, '{"args":[2],"kwargs":{}}')
    assert store.read_journal("r1") == []
    assert store.commit(change(snapshot, append(entry(0, "again")), position=0), T + 2, GRACE).ok
    assert [e.name for e in store.read_journal("r1")] == ["again"]
