"""The SQLite store's statements on the embedded hot path (flowgen/stores/sqlite_tables.py,
flowgen/stores/sqlite.py): fewer statements per workflow, the same rows.

Each statement costs the embedded engine several microseconds of Python around SQLite (and a
GIL release or two), so a step boundary's journal append, a run's read and a finish's cleanup
issue as few as they can; these tests pin both the count and that nothing is lost by it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flowgen.stores.sqlite import SQLiteStore
from flowgen.stores.sqlite_tables import SQLiteTx

from .support import created, entry


@contextmanager
def traced(store: SQLiteStore) -> Iterator[tuple[SQLiteTx, list[str]]]:
    """A write transaction of ``store`` and the statements its connection ran meanwhile."""
    statements: list[str] = []
    with store._write() as tx:
        tx.conn.set_trace_callback(statements.append)
        try:
            yield tx, statements
        finally:
            tx.conn.set_trace_callback(None)


def test_a_single_journal_entry_is_appended_in_one_statement_after_the_last(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "flowgen.db")
    created(store)
    with traced(store) as (tx, statements):
        tx.journal_append("r1", [entry(0)])
    assert len(statements) == 1
    with store._write() as tx:
        tx.journal_append("r1", [entry(1), entry(2)])  # several: the other path
        tx.journal_append("r1", [entry(3)])
    with store._write() as tx:
        tx.journal_truncate("r1", 2)
        tx.journal_append("r1", [entry(2, name="again")])  # the next position after a truncate

    journal = store.read_journal("r1")
    assert [(item.position, item.name) for item in journal] == [(0, "step"), (1, "step"), (2, "again")]
    store.close()


def test_reading_a_run_is_one_statement_without_a_transaction(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "flowgen.db")
    created(store)
    statements: list[str] = []
    conn = store._conn()
    conn.set_trace_callback(statements.append)
    record = store.get_run("r1")
    conn.set_trace_callback(None)

    assert record is not None and record.run_id == "r1"
    assert len(statements) == 1 and statements[0].startswith("SELECT")
    assert not conn.in_transaction
    assert store.get_run("nope") is None
    store.close()


def test_clearing_a_runs_scratch_skips_the_branches_it_just_read_none_of(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "flowgen.db")
    created(store)
    with traced(store) as (tx, statements):
        assert tx.branches("r1") == {}
        tx.clear_scratch("r1")
    assert not any("DELETE FROM branches" in statement for statement in statements)
    store.close()


def test_a_branch_written_after_reading_none_is_still_cleared(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "flowgen.db")
    created(store)
    with store._write() as tx:
        assert tx.branches("r1") == {}
        tx.set_branch("r1", "0/0", {"s": "queued"})
        tx.clear_scratch("r1")
    with store._write() as tx:
        assert tx.branches("r1") == {}

    with store._write() as tx:
        tx.set_branch("r1", "0/1", {"s": "queued"})  # written in an earlier transaction
    with store._write() as tx:
        assert tx.branches("r1") == {"0/1": {"s": "queued"}}
        tx.clear_scratch("r1")
    with store._write() as tx:
        assert tx.branches("r1") == {}
    store.close()
