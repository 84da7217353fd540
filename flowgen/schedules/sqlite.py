"""Schedules in the SQLite store's file: two tables of their own, written in its transactions.

``schedules`` holds one row per schedule (spec, state, revision, due time: the durable timer,
indexed) and ``schedule_runs`` the latest runs of each by tick. The tables are created on first
use with ``CREATE TABLE IF NOT EXISTS``, so a database written before schedules existed gains
them without a migration, and the run tables are untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..stores.sqlite import SQLiteStore
from .store import KEEP_RUNS, ScheduleStore, StoredSchedule

SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    revision INTEGER NOT NULL,
    due REAL
);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (due) WHERE due IS NOT NULL;
CREATE TABLE IF NOT EXISTS schedule_runs (
    name TEXT NOT NULL,
    run_id TEXT NOT NULL,
    tick REAL NOT NULL,
    PRIMARY KEY (name, run_id)
);
CREATE INDEX IF NOT EXISTS schedule_runs_tick ON schedule_runs (name, tick);
"""


class SQLiteSchedules(ScheduleStore):
    """Implements :class:`ScheduleStore` in a :class:`~flowgen.stores.sqlite.SQLiteStore`'s file."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        with store._write() as tx:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    tx.conn.execute(statement)

    def get(self, name: str) -> StoredSchedule | None:
        with self.store._read() as tx:
            row = tx.conn.execute(
                "SELECT name, spec, state, revision FROM schedules WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else StoredSchedule(*row)

    def all(self) -> list[StoredSchedule]:
        with self.store._read() as tx:
            rows = tx.conn.execute(
                "SELECT name, spec, state, revision FROM schedules ORDER BY name"
            ).fetchall()
        return [StoredSchedule(*row) for row in rows]

    def put(
        self, name: str, expected: int, spec: str | None, state: str, due: float | None, now: float
    ) -> int | None:
        with self.store._write() as tx:
            row = tx.conn.execute("SELECT revision FROM schedules WHERE name = ?", (name,)).fetchone()
            if (row[0] if row else 0) != expected:
                return None
            if spec is None:
                tx.conn.execute("DELETE FROM schedules WHERE name = ?", (name,))
                tx.conn.execute("DELETE FROM schedule_runs WHERE name = ?", (name,))
                return 0
            tx.conn.execute(
                "INSERT INTO schedules (name, spec, state, revision, due) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, state = excluded.state, "
                "revision = excluded.revision, due = excluded.due",
                (name, spec, state, expected + 1, due),
            )
            return expected + 1

    def claim(self, now: float, limit: int, ttl: float) -> list[StoredSchedule]:
        # Every worker thread asks ten times a second: look before taking the write lock,
        # which the runs' writes of every process on the file need too.
        due = self.next_due()
        if due is None or due > now:
            return []
        with self.store._write() as tx:
            rows = tx.conn.execute(
                "SELECT name, spec, state, revision FROM schedules WHERE due IS NOT NULL AND due <= ? "
                "ORDER BY due, name LIMIT ?",
                (now, limit),
            ).fetchall()
            tx.conn.executemany(
                "UPDATE schedules SET due = ? WHERE name = ?", [(now + ttl, row[0]) for row in rows]
            )
        return [StoredSchedule(*row) for row in rows]

    def next_due(self) -> float | None:
        with self.store._read() as tx:
            row = tx.conn.execute("SELECT MIN(due) FROM schedules WHERE due IS NOT NULL").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def add_runs(self, name: str, runs: Sequence[tuple[str, float]]) -> int:
        with self.store._write() as tx:
            before = tx.conn.total_changes
            tx.conn.executemany(
                "INSERT OR IGNORE INTO schedule_runs (name, run_id, tick) VALUES (?, ?, ?)",
                [(name, run_id, tick) for run_id, tick in runs],
            )
            added = tx.conn.total_changes - before
            tx.conn.execute(
                "DELETE FROM schedule_runs WHERE name = ? AND run_id NOT IN ("
                "SELECT run_id FROM schedule_runs WHERE name = ? ORDER BY tick DESC, run_id DESC LIMIT ?)",
                (name, name, KEEP_RUNS),
            )
        return added

    def runs(self, name: str, limit: int) -> list[tuple[str, float]]:
        with self.store._read() as tx:
            rows = tx.conn.execute(
                "SELECT run_id, tick FROM schedule_runs WHERE name = ? ORDER BY tick DESC, run_id DESC LIMIT ?",
                (name, limit),
            ).fetchall()
        return [(run_id, float(tick)) for run_id, tick in rows]
