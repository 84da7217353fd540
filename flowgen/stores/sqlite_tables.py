"""The SQLite store's tables: the schema, how a run record maps to a row, and the
transaction's operations on them (:class:`SQLiteTx`, the :class:`~flowgen.stores.logic.Tx` of
:class:`~flowgen.stores.sqlite.SQLiteStore`). The schema is described in :mod:`flowgen.stores.sqlite`.
"""

from __future__ import annotations

import functools
import json
import operator
import sqlite3
from collections.abc import Sequence
from itertools import compress
from typing import Any

import attrs

from ..journal import Entry, read_entry
from ..status import FINISHED, STORED
from .base import InboxEvent, RunRecord
from .flow_tables import FLOW_SCHEMA, SQLiteFlowTx

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id           TEXT PRIMARY KEY,
    workflow         TEXT NOT NULL,
    status           TEXT NOT NULL,
    created          REAL NOT NULL,
    updated          REAL NOT NULL,
    finished         REAL,
    expires          REAL,
    args             TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    output           TEXT,
    error            TEXT,
    parent           TEXT,
    generation       INTEGER NOT NULL DEFAULT 0,
    epoch            INTEGER NOT NULL DEFAULT 0,
    owner            TEXT NOT NULL DEFAULT '',
    lease_until      REAL NOT NULL DEFAULT 0,
    signals          INTEGER NOT NULL DEFAULT 0,
    waiting          TEXT NOT NULL DEFAULT '[]',
    journal_length   INTEGER NOT NULL DEFAULT 0,
    pause_requested  INTEGER NOT NULL DEFAULT 0,
    cancel_requested TEXT NOT NULL DEFAULT '',
    open_entry       TEXT,
    trace            TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created, run_id);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, created, run_id);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow, created, run_id);
CREATE INDEX IF NOT EXISTS runs_by_workflow_status ON runs (workflow, status, created, run_id);
CREATE INDEX IF NOT EXISTS runs_by_expiry ON runs (expires) WHERE expires IS NOT NULL;

CREATE TABLE IF NOT EXISTS journal (
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    entry  TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS inbox (
    seq        INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    payload    TEXT NOT NULL,
    sent       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_type ON inbox (run_id, event_type, seq);

CREATE TABLE IF NOT EXISTS seen (
    run_id   TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS branches (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS timers (
    run_id TEXT PRIMARY KEY,
    due    REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timers_by_due ON timers (due, run_id);

CREATE TABLE IF NOT EXISTS ready (
    run_id TEXT PRIMARY KEY,
    score  REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ready_by_score ON ready (score, run_id);

CREATE TABLE IF NOT EXISTS leases (
    run_id   TEXT PRIMARY KEY,
    check_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leases_by_check ON leases (check_at, run_id);

CREATE TABLE IF NOT EXISTS children (
    run_id TEXT NOT NULL,
    child  TEXT NOT NULL,
    PRIMARY KEY (run_id, child)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS history (
    seq      INTEGER PRIMARY KEY,
    run_id   TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_run ON history (run_id, seq);
"""
SCHEMA += FLOW_SCHEMA  # flow control's tables (stores/flow_tables.py)

RUN_COLUMNS = (
    # RunRecord's fields in their order (the row is its positional arguments), then ``expires``
    "run_id",
    "workflow",
    "status",
    "created",
    "updated",
    "args",
    "fingerprint",
    "output",
    "error",
    "parent",
    "generation",
    "epoch",
    "owner",
    "lease_until",
    "signals",
    "waiting",
    "journal_length",
    "pause_requested",
    "cancel_requested",
    "finished",
    "open_entry",
    "trace",
    "expires",
)
RECORD_FIELDS = tuple(field.name for field in attrs.fields(RunRecord))
assert [("open_entry" if name == "open" else name) for name in RECORD_FIELDS] == list(RUN_COLUMNS[:-1])
_stored_fields = operator.attrgetter(*RECORD_FIELDS[1:])
"""The stored fields of a record after ``run_id``, in :data:`RUN_COLUMNS` order, in one C call."""
_ERROR, _WAITING, _PAUSE = (RUN_COLUMNS.index(name) - 1 for name in ("error", "waiting", "pause_requested"))
_COLUMN_INDEXES = range(len(RUN_COLUMNS) - 1)

ADDED_COLUMNS = (("runs", "trace", "TEXT"),)
"""Columns added after a table was first released: files that lack them get them when opened."""


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """Add the :data:`ADDED_COLUMNS` an older file lacks (inside the caller's transaction)."""
    for table, column, kind in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
SELECT_RUN = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
SELECT_RUN_BY_ID = f"{SELECT_RUN} WHERE run_id = ?"
INSERT_RUN = f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in RUN_COLUMNS)})"
UPDATE_RUN = f"UPDATE runs SET {', '.join(f'{c} = ?' for c in RUN_COLUMNS[1:])} WHERE run_id = ?"
TABLES_OF_A_RUN = (
    "journal",
    "inbox",
    "seen",
    "branches",
    "timers",
    "ready",
    "leases",
    "children",
    "history",
    "flow_runs",
    "run_tags",
    "runs",
)

@functools.lru_cache(maxsize=256)
def _update_of(changed: tuple[int, ...]) -> str:
    """``UPDATE runs`` of the columns at ``changed`` (indexes into ``RUN_COLUMNS[1:]``)."""
    columns = RUN_COLUMNS[1:]
    return f"UPDATE runs SET {', '.join(f'{columns[index]} = ?' for index in changed)} WHERE run_id = ?"


SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
JOURNAL_INSERT = "INSERT INTO journal (run_id, seq, entry) VALUES (?, ?, ?)"
JOURNAL_APPEND_ONE = (
    "INSERT INTO journal (run_id, seq, entry) "
    "SELECT ?, COALESCE(MAX(seq) + 1, 0), ? FROM journal WHERE run_id = ?"
)
"""One entry after the run's last: the position and the insert in one statement."""


def _waiting(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))


def _dump_waiting(waiting: Sequence[str]) -> str:
    return json.dumps(list(waiting)) if waiting else "[]"


def record_from_row(row: Sequence[Any]) -> RunRecord:
    """The record of a row of :data:`SELECT_RUN` (columns in :data:`RUN_COLUMNS` order: the
    record's fields positionally, then ``expires``); the five stored differently converted back."""
    record = RunRecord(*row[:-1])
    record.status = STORED[record.status]
    error = record.error
    record.error = json.loads(error) if error else None  # type: ignore[arg-type]
    if not record.parent:
        record.parent = None
    record.waiting = _waiting(record.waiting)  # type: ignore[arg-type]
    record.pause_requested = bool(record.pause_requested)
    return record


class SQLiteTx(SQLiteFlowTx):
    """:class:`logic.Tx` over the tables, on a connection inside an open transaction."""

    def __init__(self, conn: sqlite3.Connection, retention: float | None) -> None:
        self.conn = conn
        self.retention = retention
        self.finished = False
        self._rows: dict[str, Sequence[Any]] = {}
        """The stored columns of each run read or written in this transaction (after run_id)."""
        self._no_branches: set[str] = set()
        """Runs this transaction found without branch records (and wrote none for since)."""

    def get_meta(self, run_id: str) -> RunRecord | None:
        row = self.conn.execute(SELECT_RUN_BY_ID, (run_id,)).fetchone()
        if row is None:
            return None
        self._rows[run_id] = row[1:]
        return record_from_row(row)

    def put_meta(self, record: RunRecord, old_status: str | None) -> None:
        values = list(_stored_fields(record))  # RUN_COLUMNS[1:-1]; then the ones stored differently
        error = values[_ERROR]
        if error is not None:
            values[_ERROR] = json.dumps(error)
        values[_WAITING] = _dump_waiting(record.waiting)
        values[_PAUSE] = int(record.pause_requested)
        expires = None
        if record.status in FINISHED and record.finished is not None and self.retention is not None:
            expires = record.finished + self.retention
        values.append(expires)
        stored = self._rows.get(record.run_id)
        self._rows[record.run_id] = values
        if old_status is None:
            self.conn.execute(INSERT_RUN, (record.run_id, *values))
        elif stored is None:
            self.conn.execute(UPDATE_RUN, (*values, record.run_id))
        else:
            # Only the columns that changed since this transaction read the row: a step boundary
            # changes three or four of them, and an indexed column named in the SET clause has
            # its index entries rewritten even when its value stays the same. (Compared and
            # picked in C: this runs at every step boundary.)
            changed = tuple(compress(_COLUMN_INDEXES, map(operator.ne, stored, values)))
            if changed:
                parameters = list(map(values.__getitem__, changed))
                parameters.append(record.run_id)
                self.conn.execute(_update_of(changed), parameters)

    def journal_append(self, run_id: str, entries: Sequence[Entry]) -> None:
        if len(entries) == 1:  # a step boundary: one statement, its position found inside it
            self.conn.execute(JOURNAL_APPEND_ONE, (run_id, entries[0].to_json(), run_id))
            return
        (start,) = self.conn.execute(
            "SELECT COALESCE(MAX(seq) + 1, 0) FROM journal WHERE run_id = ?", (run_id,)
        ).fetchone()
        self.conn.executemany(
            JOURNAL_INSERT, [(run_id, start + index, entry.to_json()) for index, entry in enumerate(entries)]
        )

    def journal_read(self, run_id: str, offset: int) -> list[Entry]:
        rows = self.conn.execute(
            "SELECT seq, entry FROM journal WHERE run_id = ? AND seq >= ? ORDER BY seq", (run_id, offset)
        ).fetchall()
        return [read_entry(text, seq) for (seq, text) in rows]

    def inbox_push(self, run_id: str, event_type: str, event: InboxEvent) -> None:
        self.conn.execute(
            "INSERT INTO inbox (run_id, event_type, event_id, payload, sent) VALUES (?, ?, ?, ?, ?)",
            (run_id, event_type, event.id, event.payload, event.sent),
        )

    def inbox_peek(self, run_id: str, event_type: str, count: int) -> list[InboxEvent]:
        rows = self.conn.execute(
            "SELECT event_id, payload, sent FROM inbox WHERE run_id = ? AND event_type = ? "
            "ORDER BY seq LIMIT ?",
            (run_id, event_type, count),
        ).fetchall()
        return [InboxEvent(event_id, payload, sent) for event_id, payload, sent in rows]

    def inbox_pop(self, run_id: str, event_type: str) -> None:
        self.conn.execute(
            "DELETE FROM inbox WHERE seq = "
            "(SELECT seq FROM inbox WHERE run_id = ? AND event_type = ? ORDER BY seq LIMIT 1)",
            (run_id, event_type),
        )

    def event_seen(self, run_id: str, event_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM seen WHERE run_id = ? AND event_id = ?", (run_id, event_id)
        ).fetchone()
        return row is not None

    def mark_event_seen(self, run_id: str, event_id: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO seen (run_id, event_id) VALUES (?, ?)", (run_id, event_id))

    def branches(self, run_id: str) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute("SELECT key, record FROM branches WHERE run_id = ?", (run_id,)).fetchall()
        if not rows:
            self._no_branches.add(run_id)
            return {}
        return {key: json.loads(record) for key, record in rows}

    def set_branch(self, run_id: str, key: str, record: dict[str, Any] | None) -> None:
        self._no_branches.discard(run_id)
        if record is None:
            self.conn.execute("DELETE FROM branches WHERE run_id = ? AND key = ?", (run_id, key))
        else:
            self.conn.execute(
                "INSERT OR REPLACE INTO branches (run_id, key, record) VALUES (?, ?, ?)",
                (run_id, key, json.dumps(record, separators=(",", ":"))),
            )

    def set_timer(self, run_id: str, due: float | None) -> None:
        if due is None:
            self.conn.execute("DELETE FROM timers WHERE run_id = ?", (run_id,))
        else:
            self.conn.execute("INSERT OR REPLACE INTO timers (run_id, due) VALUES (?, ?)", (run_id, due))

    def timer_of(self, run_id: str) -> float | None:
        row = self.conn.execute("SELECT due FROM timers WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else float(row[0])

    def due_timers(self, now: float, limit: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT run_id FROM timers WHERE due <= ? ORDER BY due, run_id LIMIT ?", (now, limit)
        ).fetchall()
        return [run_id for (run_id,) in rows]

    def set_ready(self, run_id: str, score: float | None) -> None:
        if score is None:
            self.conn.execute("DELETE FROM ready WHERE run_id = ?", (run_id,))
        else:
            self.conn.execute("INSERT OR REPLACE INTO ready (run_id, score) VALUES (?, ?)", (run_id, score))

    def ready_before(self, now: float, limit: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT run_id FROM ready WHERE score <= ? ORDER BY score, run_id LIMIT ?", (now, limit)
        ).fetchall()
        return [run_id for (run_id,) in rows]

    def set_lease_check(self, run_id: str, at: float | None) -> None:
        if at is None:
            self.conn.execute("DELETE FROM leases WHERE run_id = ?", (run_id,))
        else:
            self.conn.execute("INSERT OR REPLACE INTO leases (run_id, check_at) VALUES (?, ?)", (run_id, at))

    def lease_checks_before(self, now: float, limit: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT run_id FROM leases WHERE check_at <= ? ORDER BY check_at, run_id LIMIT ?", (now, limit)
        ).fetchall()
        return [run_id for (run_id,) in rows]

    def clear_scratch(self, run_id: str) -> None:
        self.conn.execute("DELETE FROM inbox WHERE run_id = ?", (run_id,))
        if run_id not in self._no_branches:  # a finish has just read them: often none
            self.conn.execute("DELETE FROM branches WHERE run_id = ?", (run_id,))

    def journal_truncate(self, run_id: str, length: int) -> None:
        self.conn.execute("DELETE FROM journal WHERE run_id = ? AND seq >= ?", (run_id, length))

    def add_child(self, parent_id: str, child_id: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO children (run_id, child) VALUES (?, ?)", (parent_id, child_id)
        )

    def children(self, run_id: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT child FROM children WHERE run_id = ? ORDER BY child", (run_id,)
        ).fetchall()
        return [child for (child,) in rows]

    def history_push(self, run_id: str, document: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO history (run_id, document) VALUES (?, ?)",
            (run_id, json.dumps(document, separators=(",", ":"))),
        )

    def history(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT document FROM history WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
        return [json.loads(document) for (document,) in rows]

    def clear_inbox(self, run_id: str) -> None:
        self.conn.execute("DELETE FROM inbox WHERE run_id = ?", (run_id,))

    def notify_finished(self, run_id: str) -> None:
        # Waiters are woken after COMMIT (see SQLiteStore._write): before it they would read
        # the old row.
        self.finished = True
