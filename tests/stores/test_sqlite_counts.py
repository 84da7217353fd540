"""The SQLite store's state counts are kept by triggers (flowgen/stores/sqlite_counts.py).

They must equal what the tables hold after every kind of write (create, advance, park with a
timer and park again, claim timers, finish, control, reset, retention sweep, purge), and a
scrape must cost the same however many runs the file keeps.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flowgen.status import RunStatus
from flowgen.stores.base import Finish, Park, SetOpen
from flowgen.stores.sqlite import SQLiteStore

from .support import GRACE, T, change, created, open_entry, started


def truth(path: Path, now: float) -> tuple[dict[str, int], int, int]:
    """What the tables hold, counted the slow way on a connection of its own."""
    with sqlite3.connect(path) as conn:
        runs = {status.value: 0 for status in RunStatus}
        runs.update(dict(conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()))
        (timers,) = conn.execute("SELECT COUNT(*) FROM timers").fetchone()
        (due,) = conn.execute("SELECT COUNT(*) FROM timers WHERE due <= ?", (now,)).fetchone()
    return runs, timers, due


def counted(store: SQLiteStore, now: float) -> tuple[dict[str, int], int, int]:
    counts = store.state_counts(now)
    return counts.runs, counts.timers, counts.timers_due


def park(store: SQLiteStore, run_id: str, due: float) -> None:
    snapshot = started(store, run_id)
    parked = Park(signals=snapshot.run.signals, waiting=(), timer=due)
    assert store.commit(change(snapshot, SetOpen(open_entry(0, due=due)), parked), T, GRACE).ok


def test_the_counts_equal_the_tables_after_every_kind_of_write(tmp_path: Path) -> None:
    path = tmp_path / "counts.db"
    store = SQLiteStore(path, retention=60)
    try:
        created(store, "queued")
        started(store, "running")
        for number in range(3):
            park(store, f"sleeping-{number}", T + 5 + number * 100)
        assert counted(store, T + 10) == truth(path, T + 10)
        # a second timer for a run that has one replaces it (INSERT OR REPLACE): still one timer
        again = store.acquire("sleeping-2", "w2", 30.0, T + 400)
        assert again is not None
        parked = Park(signals=again.run.signals, waiting=(), timer=T + 900)
        assert store.commit(change(again, SetOpen(open_entry(0, due=T + 900)), parked), T + 400, GRACE).ok
        assert counted(store, T + 10) == truth(path, T + 10)
        assert store.claim_due_timers(T + 10, 10, GRACE) == ["sleeping-0"]
        assert counted(store, T + 1000) == truth(path, T + 1000)
        done = started(store, "done")
        assert store.commit(change(done, Finish(RunStatus.COMPLETED, output="1")), T, GRACE).ok
        store.control("sleeping-1", "terminate", T, GRACE)
        store.control("queued", "pause", T, GRACE)
        store.reset("done", "restart", T, GRACE)
        assert counted(store, T) == truth(path, T)
        finished = started(store, "finished")
        assert store.commit(change(finished, Finish(RunStatus.FAILED, error={"type": "x", "message": "y"})), T, GRACE).ok
        assert store.sweep(T + 3600) >= 1  # the terminated and the failed run's retention ended
        assert counted(store, T) == truth(path, T)
        created(store, "late")
        late = store.acquire("late", "w1", 30.0, T)
        assert late is not None
        assert store.commit(change(late, Finish(RunStatus.COMPLETED, output="1")), T, GRACE).ok
        assert store.purge_runs(["late"], T + 1) == ["late"]
        runs, timers, due = counted(store, T + 10_000)
        assert (runs, timers, due) == truth(path, T + 10_000)
        assert runs["completed"] == 0 and runs["paused"] == 1 and timers == 1
    finally:
        store.close()


def test_a_file_from_before_the_counts_gets_them_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SQLiteStore(path)
    created(store, "a")
    park(store, "b", T + 5)
    store.close()
    with sqlite3.connect(path) as conn:  # as a file written before the counts existed
        for name in ("insert", "delete", "status", "timer_insert", "timer_delete"):
            conn.execute(f"DROP TRIGGER run_counts_{name}")
        conn.execute("DROP TABLE run_counts")
    reopened = SQLiteStore(path)
    try:
        assert counted(reopened, T + 10) == truth(path, T + 10)
        created(reopened, "c")
        assert counted(reopened, T + 10) == truth(path, T + 10)
        assert reopened.state_counts(T).runs["queued"] == 2
    finally:
        reopened.close()


def _steps_of_a_scrape(store: SQLiteStore) -> int:
    """SQLite virtual machine steps (in thousands) one ``state_counts`` executes: its cost, not timed."""
    conn = store._conn()  # this thread's connection, the one state_counts uses
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(tick, 1000)
    try:
        store.state_counts(T)
    finally:
        conn.set_progress_handler(None, 0)
    return steps[0]


def test_a_scrape_costs_the_same_with_50000_finished_runs_kept(tmp_path: Path) -> None:
    path = tmp_path / "many.db"
    store = SQLiteStore(path, retention=None)
    try:
        created(store, "one")
        few = _steps_of_a_scrape(store)
        with sqlite3.connect(path) as conn:  # 50,000 finished runs, inserted in bulk
            conn.executemany(
                "INSERT INTO runs (run_id, workflow, status, created, updated, finished, args, fingerprint)"
                " VALUES (?, 'wf', 'completed', ?, ?, ?, '[]', 'fp')",
                ((f"done-{number}", T, T, T) for number in range(50_000)),
            )
        many = _steps_of_a_scrape(store)
        assert store.state_counts(T).runs["completed"] == 50_000
        assert many <= few + 2, (few, many)  # a GROUP BY over the runs takes hundreds of thousands
    finally:
        store.close()
