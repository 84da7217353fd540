"""The SQLite store's state counts: runs by status and timers, kept by triggers, read in O(1).

The metrics' state gauges (:meth:`~flowgen.stores.base.Store.state_counts`) are read at every
scrape. Counting the ``runs`` table at each scrape (``GROUP BY status``, even from an index)
costs time proportional to every run kept, finished ones included until their retention ends:
about 22 ms a scrape at 100,000 runs and 280 ms at 500,000. Instead, the ``run_counts`` table
holds one row per status (and one, :data:`TIMERS`, for the timers), maintained by triggers in
the transaction of every write that inserts, deletes or changes the status of a run, or adds
or removes a timer, so a scrape reads a handful of rows whatever the number of runs (only the
timers already due are counted by range, and a poller claims those within a second).

Triggers rather than code at each write: every path that changes a status (advancing,
control, reset, retention sweep, purge) is covered, including writes by other processes on
the same file. The timer trigger fires *before* an insert and counts one only when the run had
no timer yet, so ``INSERT OR REPLACE`` (whose deletion fires no delete trigger) keeps the count
right. A file written before these counts existed gets them, counted once from its tables, in
the transaction that creates them (:func:`install`).
"""

from __future__ import annotations

import sqlite3

from ..status import RunStatus
from .base import StateCounts

TIMERS = "#timers"
"""The ``run_counts`` row of the number of timers (a name no status can have)."""

_BUMP = "INSERT INTO run_counts (name, n) VALUES ({name}, {delta}) ON CONFLICT(name) DO UPDATE SET n = n + {delta}"

STATEMENTS = (
    "CREATE TABLE run_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
    f"""CREATE TRIGGER run_counts_insert AFTER INSERT ON runs BEGIN
        {_BUMP.format(name="NEW.status", delta=1)};
    END""",
    f"""CREATE TRIGGER run_counts_delete AFTER DELETE ON runs BEGIN
        {_BUMP.format(name="OLD.status", delta=-1)};
    END""",
    f"""CREATE TRIGGER run_counts_status AFTER UPDATE OF status ON runs
    WHEN OLD.status IS NOT NEW.status BEGIN
        {_BUMP.format(name="OLD.status", delta=-1)};
        {_BUMP.format(name="NEW.status", delta=1)};
    END""",
    f"""CREATE TRIGGER run_counts_timer_insert BEFORE INSERT ON timers
    WHEN NOT EXISTS (SELECT 1 FROM timers WHERE run_id = NEW.run_id) BEGIN
        {_BUMP.format(name=f"'{TIMERS}'", delta=1)};
    END""",
    f"""CREATE TRIGGER run_counts_timer_delete AFTER DELETE ON timers BEGIN
        {_BUMP.format(name=f"'{TIMERS}'", delta=-1)};
    END""",
    "INSERT INTO run_counts (name, n) SELECT status, COUNT(*) FROM runs GROUP BY status",
    f"INSERT INTO run_counts (name, n) SELECT '{TIMERS}', COUNT(*) FROM timers",
)
"""Create the counts, their triggers, and count what the file already holds (once)."""


def install(conn: sqlite3.Connection) -> None:
    """Create the counts and their triggers if the file lacks them (inside the caller's write
    transaction, so no write of another process falls between the first count and the triggers)."""
    present = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_counts'").fetchone()
    if present is None:
        for statement in STATEMENTS:
            conn.execute(statement)


def read(conn: sqlite3.Connection, now: float) -> StateCounts:
    """The state counts: the ``run_counts`` rows, and the timers due at ``now`` (a range of the
    ``timers_by_due`` index holding only the timers no poller has claimed yet)."""
    runs = dict.fromkeys((status.value for status in RunStatus), 0)
    timers = 0
    for name, count in conn.execute("SELECT name, n FROM run_counts"):
        if name == TIMERS:
            timers = max(0, int(count))
        elif int(count) > 0 or name in runs:
            runs[name] = max(0, int(count))
    (due,) = conn.execute("SELECT COUNT(*) FROM timers WHERE due <= ?", (now,)).fetchone()
    return StateCounts(runs, timers, int(due))
