"""Conformance: what the metrics and tracing need from a store (state counts, the caller's trace)."""

from __future__ import annotations

from flowgen.status import RunStatus
from flowgen.stores.base import Finish, NewRun, Park, SetOpen, Store

from .support import ARGS, GRACE, TTL, T, change, created, open_entry, started

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_state_counts_count_runs_by_status_and_timers_due(store: Store) -> None:
    created(store, "queued")
    running = started(store, "running")
    assert running.run.status == RunStatus.RUNNING
    for run_id, due in (("soon", T + 5), ("later", T + 50)):
        snapshot = started(store, run_id)
        park = Park(signals=snapshot.run.signals, waiting=(), timer=due)
        assert store.commit(change(snapshot, SetOpen(open_entry(0, due=due)), park), T, GRACE).ok
    done = started(store, "done")
    assert store.commit(change(done, Finish(RunStatus.COMPLETED, output="1")), T, GRACE).ok

    counts = store.state_counts(T + 10)

    assert counts.runs == {
        "queued": 1,
        "running": 1,
        "waiting": 2,
        "paused": 0,
        "compensating": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
    }
    assert (counts.timers, counts.timers_due) == (2, 1)
    assert store.state_counts(T + 100).timers_due == 2
    assert store.state_counts(T).timers_due == 0


def test_a_run_keeps_the_trace_context_it_was_created_with(store: Store) -> None:
    new = NewRun("traced", "wf", ARGS, "fp", T, trace=TRACEPARENT)
    was_created, record = store.create_run(new, T, GRACE)
    assert was_created and record.trace == TRACEPARENT
    stored = store.get_run("traced")
    assert stored is not None and stored.trace == TRACEPARENT
    snapshot = store.acquire("traced", "w1", TTL, T)
    assert snapshot is not None and snapshot.run.trace == TRACEPARENT
    created(store, "untraced")
    untraced = store.get_run("untraced")
    assert untraced is not None and untraced.trace is None


def test_a_sqlite_file_from_before_traces_gets_the_trace_column(tmp_path) -> None:
    import sqlite3

    from flowgen.stores.sqlite import SQLiteStore

    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN trace")
    store = SQLiteStore(path)
    try:
        was_created, _ = store.create_run(NewRun("r", "wf", ARGS, "fp", T, trace=TRACEPARENT), T, GRACE)
        assert was_created
        record = store.get_run("r")
        assert record is not None and record.trace == TRACEPARENT
    finally:
        store.close()


def test_a_retry_counts_itself_in_the_stored_trace_and_a_restart_drops_the_count(store: Store) -> None:
    from flowgen.observability import ids

    for run_id, trace in (("traced-retry", TRACEPARENT), ("untraced-retry", None)):
        was_created, _ = store.create_run(NewRun(run_id, "wf", ARGS, "fp", T, trace=trace), T, GRACE)
        assert was_created
        for expected in (1, 2):
            snapshot = store.acquire(run_id, "w1", TTL, T)
            assert snapshot is not None
            failed = Finish(RunStatus.FAILED, error={"type": "builtins:ValueError", "message": "x"})
            assert store.commit(change(snapshot, failed), T, GRACE).ok
            store.reset(run_id, "retry", T, GRACE, None)
            stored = store.get_run(run_id)
            assert stored is not None
            assert ids.retries_of(stored.trace) == expected
            assert ids.parse_traceparent(stored.trace) == ids.parse_traceparent(trace)  # the caller's
        store.reset(run_id, "restart", T, GRACE, None)
        restarted = store.get_run(run_id)
        assert restarted is not None and restarted.trace == trace  # a new generation: no count
