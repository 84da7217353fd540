"""Conformance: creating runs, reading them back, listing, the journal and read-only loads."""

from __future__ import annotations

import pytest

from flowgen.errors import RunNotFoundError
from flowgen.journal import Entry
from flowgen.status import RunStatus
from flowgen.stores.base import Finish, RunRecord, SetOpen, Store

from .support import (
    ARGS,
    GRACE,
    TTL,
    T,
    append,
    assert_ready_at,
    change,
    created,
    entry,
    new_run,
    open_entry,
    started,
)


def test_create_runs_creates_a_queued_run(store: Store) -> None:
    was_created, record = store.create_run(new_run("r1"), T, GRACE)

    expected = RunRecord(
        run_id="r1", workflow="wf", status=RunStatus.QUEUED, created=T, updated=T, args=ARGS, fingerprint="fp"
    )
    assert was_created is True
    assert record == expected
    assert store.get_run("r1") == expected


def test_create_runs_puts_the_new_run_in_the_ready_index_after_grace(store: Store) -> None:
    store.create_run(new_run("r1"), T, GRACE)

    assert_ready_at(store, "r1", T + GRACE)


def test_create_runs_is_idempotent_on_run_id(store: Store) -> None:
    store.create_run(new_run("r1"), T, GRACE)

    was_created, record = store.create_run(
        new_run("r1", args='{"other":1}', fingerprint="fp2"), T + 100, GRACE
    )

    assert was_created is False
    assert (record.args, record.fingerprint, record.created) == (ARGS, "fp", T)
    stored = store.get_run("r1")
    assert stored is not None and (stored.args, stored.fingerprint) == (ARGS, "fp")
    # the second create did not re-score the ready index either
    assert_ready_at(store, "r1", T + GRACE)


def test_create_runs_leaves_an_existing_run_untouched(store: Store) -> None:
    started(store, "r1")

    was_created, record = store.create_run(new_run("r1"), T + 5, GRACE)

    assert was_created is False
    assert (record.status, record.epoch, record.owner) == (RunStatus.RUNNING, 1, "w1")


def test_create_runs_returns_one_result_per_run_in_order(store: Store) -> None:
    store.create_run(new_run("b"), T, GRACE)

    results = store.create_runs([new_run("a"), new_run("b", fingerprint="other"), new_run("c")], T + 1, GRACE)

    assert [(was_created, record.run_id) for was_created, record in results] == [
        (True, "a"),
        (False, "b"),
        (True, "c"),
    ]
    assert results[1][1].fingerprint == "fp"
    assert results[1][1].created == T


def test_create_runs_with_a_run_id_twice_in_one_batch_creates_it_once(store: Store) -> None:
    results = store.create_runs([new_run("a"), new_run("a", fingerprint="other")], T, GRACE)

    assert [was_created for was_created, _ in results] == [True, False]
    assert results[1][1].fingerprint == "fp"


def test_create_runs_with_no_runs_returns_nothing(store: Store) -> None:
    assert store.create_runs([], T, GRACE) == []


def test_create_runs_records_the_parent_of_a_child_run(store: Store) -> None:
    created(store, "parent-run/child", parent="parent-run")

    record = store.get_run("parent-run/child")
    assert record is not None and record.parent == "parent-run"


def test_get_run_returns_none_for_a_missing_run(store: Store) -> None:
    assert store.get_run("nope") is None


@pytest.fixture
def listed(store: Store) -> Store:
    """Runs a (wf1, T), b (wf2, T+1), c and d (wf1, T+2, same time); c is running."""
    store.create_runs([new_run("a", "wf1")], T, GRACE)
    store.create_runs([new_run("b", "wf2")], T + 1, GRACE)
    store.create_runs([new_run("c", "wf1"), new_run("d", "wf1")], T + 2, GRACE)
    assert store.acquire("c", "w1", TTL, T + 3) is not None
    return store


def _ids(records: list[RunRecord]) -> list[str]:
    return [record.run_id for record in records]


def test_list_runs_returns_every_run_newest_first_ties_by_run_id(listed: Store) -> None:
    assert _ids(listed.list_runs()) == ["d", "c", "b", "a"]


def test_list_runs_filters_by_status(listed: Store) -> None:
    assert _ids(listed.list_runs(status=RunStatus.QUEUED)) == ["d", "b", "a"]
    assert _ids(listed.list_runs(status=RunStatus.RUNNING)) == ["c"]
    assert listed.list_runs(status=RunStatus.COMPLETED) == []


def test_list_runs_filters_by_workflow(listed: Store) -> None:
    assert _ids(listed.list_runs(workflow="wf1")) == ["d", "c", "a"]
    assert _ids(listed.list_runs(workflow="wf2")) == ["b"]
    assert listed.list_runs(workflow="nope") == []


def test_list_runs_filters_by_status_and_workflow(listed: Store) -> None:
    assert _ids(listed.list_runs(status=RunStatus.QUEUED, workflow="wf1")) == ["d", "a"]
    assert _ids(listed.list_runs(status=RunStatus.RUNNING, workflow="wf1")) == ["c"]
    assert listed.list_runs(status=RunStatus.RUNNING, workflow="wf2") == []


def test_list_runs_pages_with_limit_and_offset(listed: Store) -> None:
    assert _ids(listed.list_runs(limit=2)) == ["d", "c"]
    assert _ids(listed.list_runs(limit=2, offset=2)) == ["b", "a"]
    assert _ids(listed.list_runs(limit=2, offset=1)) == ["c", "b"]
    assert listed.list_runs(offset=4) == []
    assert _ids(listed.list_runs(status=RunStatus.QUEUED, workflow="wf1", limit=1, offset=1)) == ["a"]


def test_list_runs_follows_status_changes(listed: Store) -> None:
    snapshot = listed.acquire("d", "w1", TTL, T + 4)
    assert snapshot is not None
    assert listed.commit(change(snapshot, Finish(RunStatus.COMPLETED, output='"ok"')), T + 5, GRACE).ok

    assert _ids(listed.list_runs(status=RunStatus.COMPLETED)) == ["d"]
    assert _ids(listed.list_runs(status=RunStatus.RUNNING)) == ["c"]
    assert _ids(listed.list_runs(status=RunStatus.COMPLETED, workflow="wf1")) == ["d"]
    assert _ids(listed.list_runs(status=RunStatus.QUEUED, workflow="wf1")) == ["a"]
    records = listed.list_runs(status=RunStatus.COMPLETED)
    assert records[0].output == '"ok"' and records[0].finished == T + 5


def test_read_journal_returns_closed_entries_from_an_offset(store: Store) -> None:
    snapshot = started(store)
    entries = [entry(i, f"s{i}") for i in range(5)]
    assert store.commit(change(snapshot, append(*entries)), T, GRACE).ok

    assert store.read_journal("r1") == entries
    assert store.read_journal("r1", 3) == entries[3:]
    assert store.read_journal("r1", 5) == []
    assert store.read_journal("r1", 50) == []


def test_read_journal_of_a_missing_run_is_empty(store: Store) -> None:
    assert store.read_journal("nope") == []


def test_journal_entries_round_trip_every_field(store: Store) -> None:
    snapshot = started(store)
    rich = Entry(
        0,
        "all_of",
        "all_of",
        False,
        error={"type": "ValueError", "message": "bad \u00e9"},
        started=T + 0.125,
        finished=T + 2.5,
        attempts=({"n": 1, "started": T, "status": "error"},),
        info={"slot": "0"},
        leaves={"0": {"kind": "step", "name": "a", "ok": True, "value": "1", "finished": T}},
        winners={"": 0},
    )
    assert store.commit(change(snapshot, append(rich)), T, GRACE).ok

    assert store.read_journal("r1") == [rich]


def test_load_reads_a_snapshot_without_touching_the_lease(store: Store) -> None:
    snapshot = started(store)
    opened = open_entry(1)
    assert store.commit(change(snapshot, append(entry(0)), SetOpen(opened)), T + 1, GRACE).ok

    loaded = store.load("r1", (), 0)

    assert loaded.epoch == 0
    assert loaded.run == store.get_run("r1")
    assert (loaded.run.epoch, loaded.run.owner, loaded.run.lease_until) == (1, "w1", T + TTL)
    assert loaded.journal == [entry(0)]
    assert loaded.open == opened
    assert loaded.branches == {}
    assert loaded.inbox == {}


def test_load_without_offset_skips_the_journal(store: Store) -> None:
    snapshot = started(store)
    assert store.commit(change(snapshot, append(entry(0), entry(1))), T, GRACE).ok

    assert store.load("r1").journal == []
    assert store.load("r1", offset=1).journal == [entry(1)]


def test_load_returns_as_many_inbox_heads_per_type_as_asked(store: Store) -> None:
    created(store)
    for index, event_type in enumerate(["a", "a", "a", "b", "c"]):
        store.send_event("r1", event_type, f'"{index}"', f"e{index}", T + index, GRACE)

    inbox = store.load("r1", ("a", "b", "a", "z")).inbox

    assert {t: [e.id for e in events] for t, events in inbox.items()} == {"a": ["e0", "e1"], "b": ["e3"]}
    assert inbox["a"][1].payload == '"1"' and inbox["a"][1].sent == T + 1


def test_load_of_a_missing_run_raises(store: Store) -> None:
    with pytest.raises(RunNotFoundError):
        store.load("nope")
