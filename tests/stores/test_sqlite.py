"""What only the SQLite store promises: the file, WAL, threads, processes, locks and retention."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from flowgen.errors import ConfigurationError, StoreUnavailableError
from flowgen.status import RunStatus
from flowgen.stores.base import Finish, Park, SetOpen
from flowgen.stores.sqlite import SCHEMA_VERSION, SQLiteStore

from .support import GRACE, TTL, T, append, change, entry, new_run, open_entry, started

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "flowgen.db"


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_sqlite_store_creates_its_schema_in_wal_mode(db: Path) -> None:
    SQLiteStore(db).close()

    conn = _raw(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "journal", "inbox", "seen", "branches", "timers", "ready"} <= tables
    conn.close()


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (
            "SELECT run_id FROM runs WHERE status = 'queued' ORDER BY created DESC, run_id DESC",
            "runs_by_status",
        ),
        (
            "SELECT run_id FROM runs WHERE workflow = 'wf' ORDER BY created DESC, run_id DESC",
            "runs_by_workflow",
        ),
        (
            "SELECT run_id FROM runs WHERE workflow = 'wf' AND status = 'queued' "
            "ORDER BY created DESC, run_id DESC",
            "runs_by_workflow_status",
        ),
        ("SELECT run_id FROM runs ORDER BY created DESC, run_id DESC", "runs_by_created"),
        ("SELECT run_id FROM timers WHERE due <= 5 ORDER BY due, run_id", "timers_by_due"),
        ("SELECT run_id FROM ready WHERE score <= 5 ORDER BY score, run_id", "ready_by_score"),
        (
            "SELECT run_id FROM runs WHERE expires IS NOT NULL AND expires <= 5 ORDER BY expires",
            "runs_by_expiry",
        ),
    ],
)
def test_sqlite_listing_and_index_queries_use_an_index(db: Path, query: str, index: str) -> None:
    SQLiteStore(db).close()
    conn = _raw(db)

    plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {query}"))

    assert index in plan
    assert "TEMP B-TREE" not in plan  # no sort step: the index gives the order
    conn.close()


def test_sqlite_state_survives_closing_and_reopening_the_file(db: Path) -> None:
    store = SQLiteStore(db)
    snapshot = started(store)
    store.send_event("r1", "go", '"payload"', "e1", T, GRACE)
    park = Park(signals=snapshot.run.signals + 1, waiting=("other",), timer=T + 60)  # +1: the event
    assert store.commit(change(snapshot, append(entry(0)), SetOpen(open_entry(1)), park), T, GRACE).parked
    before = (store.get_run("r1"), store.read_journal("r1"), store.inbox("r1"), store.load("r1").open)
    store.close()

    reopened = SQLiteStore(db)

    assert (
        reopened.get_run("r1"),
        reopened.read_journal("r1"),
        reopened.inbox("r1"),
        reopened.load("r1").open,
    ) == before
    assert reopened.next_timer() == T + 60
    assert reopened.claim_due_timers(T + 60, 10, GRACE) == ["r1"]
    record = reopened.get_run("r1")
    assert record is not None and record.status == RunStatus.WAITING
    reopened.close()


def test_sqlite_store_refuses_an_in_memory_database() -> None:
    with pytest.raises(ConfigurationError, match="memory://"):
        SQLiteStore(":memory:")


def test_sqlite_store_names_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        SQLiteStore(tmp_path / "missing" / "flowgen.db")


def test_sqlite_store_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the pages you are looking for " * 200)

    with pytest.raises(ConfigurationError, match=r"notes\.txt"):
        SQLiteStore(path)


def test_sqlite_store_refuses_a_schema_from_a_newer_flowgen(db: Path) -> None:
    conn = _raw(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    with pytest.raises(ConfigurationError, match="newer flowgen"):
        SQLiteStore(db)


def test_sqlite_store_reports_a_write_lock_held_too_long(db: Path) -> None:
    store = SQLiteStore(db, timeout=0.2)
    other = _raw(db)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailableError, match="locked"):
            store.create_run(new_run("r1"), T, GRACE)
    finally:
        other.execute("ROLLBACK")
        other.close()
    # nothing half-written, and the store works again once the lock is gone
    assert store.get_run("r1") is None
    assert store.create_run(new_run("r1"), T, GRACE)[0] is True
    store.close()


def test_sqlite_store_rolls_back_an_operation_that_raises(db: Path) -> None:
    store = SQLiteStore(db)
    started(store)
    store.close()
    # A trigger makes the commit's last write (the run row, after the journal append) fail.
    conn = _raw(db)
    conn.execute(
        "CREATE TRIGGER no_open BEFORE UPDATE OF open_entry ON runs "
        "WHEN NEW.open_entry IS NOT OLD.open_entry "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    conn.close()
    store = SQLiteStore(db)
    snapshot = store.acquire("r1", "w1", TTL, T + 1)
    assert snapshot is not None

    with pytest.raises(StoreUnavailableError, match="refused"):
        store.commit(change(snapshot, append(entry(0)), SetOpen(open_entry(1))), T + 1, GRACE)

    assert store.read_journal("r1") == []
    record = store.get_run("r1")
    assert record is not None and record.journal_length == 0
    store.close()


def test_sqlite_store_cannot_be_used_after_close(db: Path) -> None:
    store = SQLiteStore(db)
    store.close()

    with pytest.raises(StoreUnavailableError, match="closed"):
        store.get_run("r1")


def test_sqlite_many_threads_advancing_one_run_never_break_the_journal(db: Path) -> None:
    store = SQLiteStore(db)
    store.create_run(new_run("shared"), T, GRACE)
    appended: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            for round_ in range(40):
                # ttl 0: every acquire takes the run over, so the threads fence each other
                snapshot = store.acquire("shared", f"w{index}", 0.0, T + round_)
                if snapshot is None:
                    continue
                position = snapshot.run.journal_length
                result = store.commit(change(snapshot, append(entry(position, f"w{index}"))), T, GRACE)
                if result.ok:
                    with lock:
                        appended.append(position)
                else:
                    assert result.reason in ("stale", "conflict")
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    journal = store.read_journal("shared")
    assert [e.position for e in journal] == list(range(len(journal)))
    assert sorted(appended) == list(range(len(journal)))
    record = store.get_run("shared")
    assert record is not None and record.journal_length == len(journal) > 0
    store.close()


_HAMMER = textwrap.dedent(
    """
    import sys, time
    from flowgen.stores.sqlite import SQLiteStore
    from tests.stores.support import GRACE, append, change, entry

    path, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = SQLiteStore(path)
    ok = 0
    for _ in range(rounds):
        snapshot = store.acquire("shared", name, 0.0, time.time())
        if snapshot is None:
            continue
        position = snapshot.run.journal_length
        if store.commit(change(snapshot, append(entry(position, name))), time.time(), GRACE).ok:
            ok += 1
    store.close()
    print(ok)
    """
)


def _python(*args: str, **options: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, text=True, **options)  # type: ignore[call-overload]


def test_sqlite_two_processes_on_one_file_are_fenced_and_do_not_corrupt_it(db: Path) -> None:
    store = SQLiteStore(db)
    store.create_run(new_run("shared"), T, GRACE)
    processes = [
        _python("-c", _HAMMER, str(db), f"p{index}", "150", stdout=subprocess.PIPE) for index in range(2)
    ]

    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [process.returncode for process in processes] == [0, 0]
    successes = [int(output.strip()) for output in outputs]
    journal = store.read_journal("shared")
    assert [e.position for e in journal] == list(range(len(journal)))
    assert sum(successes) == len(journal)
    assert {e.name for e in journal} == {"p0", "p1"}, "both processes should have advanced the run"
    conn = _raw(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    store.close()


def test_sqlite_wait_finished_sees_a_run_finished_by_another_process(db: Path) -> None:
    store = SQLiteStore(db, poll_interval=0.1)
    snapshot = started(store)
    script = textwrap.dedent(
        f"""
        import sys
        from flowgen.stores.base import Commit, Finish
        from flowgen.stores.sqlite import SQLiteStore
        store = SQLiteStore(sys.argv[1])
        finish = Finish("completed", output='"x"')
        commit = Commit(run_id="r1", epoch={snapshot.epoch}, position=0, operations=[finish])
        assert store.commit(commit, {T}, {GRACE}).ok
        """
    )
    process = _python("-c", script, str(db))

    record = store.wait_finished("r1", 30)

    assert process.wait(30) == 0
    assert record is not None and (record.status, record.output) == (RunStatus.COMPLETED, '"x"')
    store.close()


_WRITER = textwrap.dedent(
    """
    import sys, time
    from flowgen.stores.base import NewRun
    from flowgen.stores.sqlite import SQLiteStore
    store = SQLiteStore(sys.argv[1])
    index = 0
    while True:
        runs = [NewRun(f"run-{index}-{k}", "wf", "{}", "fp", time.time()) for k in range(20)]
        store.create_runs(runs, time.time(), 15.0)
        index += 1
        if index == 5:
            print("writing", flush=True)
    """
)


def test_sqlite_file_survives_a_writer_killed_mid_transaction(db: Path) -> None:
    SQLiteStore(db).close()
    process = _python("-c", _WRITER, str(db), stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "writing"

    process.send_signal(signal.SIGKILL)
    process.wait(30)

    store = SQLiteStore(db)
    conn = _raw(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    # batches are atomic: every batch that committed is whole
    runs = store.list_runs(limit=100_000)
    assert len(runs) >= 100 and len(runs) % 20 == 0
    assert store.create_run(new_run("after"), T, GRACE)[0] is True
    store.close()


def test_sqlite_sweep_deletes_only_runs_whose_retention_ended(db: Path) -> None:
    store = SQLiteStore(db, retention=100)
    for run_id, finished_at in (("old", T), ("recent", T + 50)):
        snapshot = started(store, run_id)
        store.send_event(run_id, "go", "null", "e1", T, GRACE)
        assert store.commit(
            change(snapshot, append(entry(0)), Finish(RunStatus.COMPLETED)), finished_at, GRACE
        ).ok
    started(store, "live")

    assert store.sweep(T + 99.9, 10) == 0
    assert store.sweep(T + 100, 10) == 1

    assert store.get_run("old") is None and store.read_journal("old") == []
    assert [r.run_id for r in store.list_runs()] == ["recent", "live"]
    conn = _raw(db)
    for table in ("journal", "inbox", "seen", "branches", "timers", "ready", "runs"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = 'old'").fetchone()[0] == 0, table
    conn.close()
    assert store.sweep(T + 1000, 10) == 1
    assert [r.run_id for r in store.list_runs()] == ["live"]
    store.close()


def test_sqlite_sweep_respects_its_limit_and_retention_none_keeps_runs(db: Path) -> None:
    store = SQLiteStore(db, retention=0)
    for index in range(3):
        snapshot = started(store, f"r{index}")
        assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED)), T, GRACE).ok
    assert store.sweep(T, 2) == 2
    assert store.sweep(T, 2) == 1
    store.close()

    keeping = SQLiteStore(db, retention=None)
    snapshot = started(keeping, "kept")
    assert keeping.commit(change(snapshot, Finish(RunStatus.COMPLETED)), T, GRACE).ok
    assert keeping.sweep(T + 10**9, 10) == 0
    assert keeping.get_run("kept") is not None
    keeping.close()


def test_sqlite_connections_of_finished_threads_are_closed(db: Path) -> None:
    store = SQLiteStore(db)

    def touch() -> None:
        store.get_run("r1")

    for _ in range(20):
        thread = threading.Thread(target=touch)
        thread.start()
        thread.join(10)
    touch()

    # the dead threads' connections were closed when the next thread connected
    assert len(store._connections) <= 2
    store.close()


def test_sqlite_wait_finished_wakes_at_once_on_a_commit_of_this_process(db: Path) -> None:
    store = SQLiteStore(db, poll_interval=30)
    snapshot = started(store)
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(store.wait_finished("r1", 60)))
    waiter.start()
    waiter.join(0.2)

    finished_at = time.monotonic()
    assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED)), T, GRACE).ok
    waiter.join(10)

    # with a 30 s poll interval, only the notification can have woken it this fast
    assert not waiter.is_alive() and time.monotonic() - finished_at < 5
    assert len(results) == 1


def _create_in_child(store: SQLiteStore, run_id: str) -> None:
    store.create_run(new_run(run_id), T, GRACE)


def test_sqlite_store_inherited_by_a_forked_child_opens_its_own_connection(db: Path) -> None:
    store = SQLiteStore(db)
    store.create_run(new_run("parent"), T, GRACE)
    child = multiprocessing.get_context("fork").Process(target=_create_in_child, args=(store, "child"))

    child.start()
    child.join(30)

    assert child.exitcode == 0
    assert [r.run_id for r in store.list_runs()] == ["parent", "child"]
    store.create_run(new_run("after"), T + 1, GRACE)  # the parent's connection still works
    assert store.get_run("after") is not None
    store.close()
