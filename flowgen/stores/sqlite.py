"""The SQLite store: the embedded default, one file and no server.

The contract's semantics come from :mod:`flowgen.stores.logic`, exactly as for the memory
store; this module only implements its :class:`~flowgen.stores.logic.Tx` over tables and runs
every operation in **one SQLite transaction** (``BEGIN IMMEDIATE`` for writes, so the fenced
journal append - lease epoch check, position check, inbox heads, append, open entry, branch
writes, park or finish - commits or rolls back as a whole).

Schema (``PRAGMA user_version`` holds :data:`SCHEMA_VERSION`):

==============  =============================================================================
table           holds
==============  =============================================================================
``runs``        one row per run: every :class:`~flowgen.stores.base.RunRecord` field as a
                column (``waiting`` and ``error`` as JSON, ``open_entry`` the open journal entry
                as JSON) plus ``expires``, when a finished run's retention ends
``journal``     ``(run_id, seq) -> entry``: closed entries, one JSON document per position
``inbox``       buffered events; ``seq`` (the rowid) keeps them FIFO per ``(run_id, type)``
``seen``        ``(run_id, event_id)``: ids already accepted, so a re-sent event is a no-op
``branches``    ``(run_id, key) -> record``: steps dispatched as their own messages, as JSON
                (the dispatch record plus ``s``, ``hb``, ``started``, ``r`` once running)
``timers``      ``run_id -> due``: one durable timer per run (sleeps, retries, timeouts)
``ready``       ``run_id -> score``: runs that should be moving, for the reconciler
``run_counts``  ``name -> n``: runs by status and the number of timers, kept by triggers
                (:mod:`flowgen.stores.sqlite_counts`; added in place to older files)
``leases``      ``run_id -> check_at``: runs a worker holds, by when the reconciler checks that
                their lease is still renewed (added in place: older files get the table)
                (``runs.trace``, the caller's ``traceparent`` and the retry count, is added in place
                the same way)
==============  =============================================================================

Indexes serve listing (by creation time, by status, by workflow, by both), the timer,
ready and lease indexes (by score) and the retention sweep (by ``expires``).

Concurrency, and what is supported:

* **Many threads in one process** (the embedded engine's workers, timer poller, reconciler,
  lease keeper, and the application's own threads). Each thread reads on its own connection;
  every write transaction of this process runs on one shared writer connection, serialized by
  a lock, so threads queue on that lock instead of spinning in SQLite's busy handler, and
  threads queued there share one ``COMMIT`` (group commit, :mod:`.sqlite_group`: each
  operation still returns only once what it wrote is committed). Reads run concurrently with
  writes (WAL). WAL checkpoints run on a thread of their own (:mod:`.sqlite_checkpoint`), not
  inside a commit.
* **Several processes on one file, on one machine** (a script sending events to runs another
  process advances, two embedded engines sharing a file, the CLI inspecting runs). WAL mode
  lets readers proceed during a write; writers from different processes take turns on
  SQLite's write lock, waiting up to ``timeout`` seconds (``busy_timeout``). Every operation
  is one transaction and the lease epoch fences journal writes, so two processes advancing
  runs from the same file cannot corrupt a run or run a journaled step twice. A process killed
  mid-transaction (``kill -9``) leaves no trace: SQLite rolls the transaction back, and the
  OS releases its locks. ``wait_finished`` is woken at once by commits of this process and
  polls every ``poll_interval`` seconds for runs finished by another process.
* **Not supported**: a file on a network file system (NFS, SMB: WAL needs shared memory
  between processes of one host), or processes on different machines. Use Redis for that.

Durability: ``synchronous=NORMAL`` (the default) survives any process crash; a power loss or
OS crash may lose the last transactions but never corrupts the file. Pass
``synchronous="FULL"`` to make every commit durable against power loss too (one fsync each).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from typing import Any

from ..errors import ConfigurationError, StoreUnavailableError
from ..status import RunStatus
from . import logic, sqlite_counts
from .base import InboxEvent, RunRecord, StateCounts, ready_cutoff
from .sqlite_checkpoint import AUTOCHECKPOINT_PAGES, Checkpointer
from .sqlite_group import GroupCommit
from .sqlite_search import SEARCH_SCHEMA, SQLiteSearch
from .sqlite_tables import (
    SCHEMA,
    SCHEMA_VERSION,
    SELECT_RUN,
    SELECT_RUN_BY_ID,
    SYNCHRONOUS,
    TABLES_OF_A_RUN,
    SQLiteTx,
    add_missing_columns,
    record_from_row,
)
from .transactional import TransactionalStore

logger = logging.getLogger("flowgen.stores.sqlite")


class SQLiteStore(SQLiteSearch, TransactionalStore):
    """Implements the store contract on a SQLite file (see the module docstring).

    Args:
        path: the database file; created with its tables if missing. ``":memory:"`` is
            refused: every thread has its own connection, so each would see another empty
            database (use ``memory://`` for an in-memory engine).
        retention: seconds finished runs are kept before :meth:`sweep` deletes them
            (``None``: forever).
        timeout: seconds to wait for another process's write lock before failing with
            :class:`~flowgen.errors.StoreUnavailableError` (SQLite's ``busy_timeout``).
        synchronous: SQLite's ``synchronous`` setting (``"NORMAL"`` or ``"FULL"``, see the
            module docstring).
        poll_interval: how often :meth:`wait_finished` looks for runs finished by another
            process (runs finished by this process wake it at once).

    Raises:
        ConfigurationError: the path cannot hold a database, or the file was written by a
            newer flowgen.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retention: float | None = 7 * 86400,
        timeout: float = 30.0,
        synchronous: str = "NORMAL",
        poll_interval: float = 0.25,
    ) -> None:
        self.path = os.fspath(path)
        if not self.path or self.path == ":memory:" or self.path.startswith("file::memory:"):
            raise ConfigurationError(
                f"SQLiteStore needs a file path, got {self.path!r}: each thread opens its own connection, "
                "so an in-memory SQLite database would not be shared; use Engine('memory://') instead"
            )
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ConfigurationError(
                f"cannot create the SQLite database {self.path!r}: the directory {directory!r} does not exist"
            )
        if synchronous.upper() not in SYNCHRONOUS:
            raise ConfigurationError(
                f"synchronous must be one of {', '.join(SYNCHRONOUS)}, got {synchronous!r}"
            )
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
        self.retention = retention
        self.timeout = timeout
        self.synchronous = synchronous.upper()
        self.poll_interval = poll_interval
        self._pid = os.getpid()
        self._local = threading.local()
        self._connections: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._forked_away: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._finished = threading.Condition()
        self._finish_count = 0
        self._closed = False
        self._checkpointer = Checkpointer(self._connect)
        self._writes = GroupCommit(self._checkpointer.committed)
        self._forked_checkpointers: list[Checkpointer] = []
        self._writer: sqlite3.Connection | None = None
        self._initialize()

    # -- connections and transactions -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: the module's implicit transactions are off; every
            # operation below issues its own BEGIN / COMMIT. check_same_thread=False so close()
            # can close connections of other threads, and the writer is used by whichever
            # thread holds the write lock; a reader connection is used by its own thread only.
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            # Checkpoints run on their own thread (sqlite_checkpoint); this bound is the fallback.
            conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
        except sqlite3.Error as error:
            raise ConfigurationError(f"cannot open the SQLite database {self.path!r}: {error}") from error
        return conn

    def _usable(self) -> None:
        """Refuse a closed store; after a fork, drop what the parent's threads own."""
        if self._closed:
            raise StoreUnavailableError(f"the SQLite store on {self.path!r} has been closed")
        if os.getpid() != self._pid:
            self._after_fork()

    def _writer_conn(self) -> sqlite3.Connection:
        """The one connection every write transaction of this process runs on (under the write lock).

        One connection rather than each thread's own: SQLite drops a connection's page cache
        when another connection has written since its last transaction, so with a connection
        per thread every write began by reading its pages again.
        """
        if self._closed:  # closed while this thread queued for the lock
            raise StoreUnavailableError(f"the SQLite store on {self.path!r} has been closed")
        conn = self._writer
        if conn is None:
            conn = self._writer = self._connect()
        return conn

    def _conn(self) -> sqlite3.Connection:
        self._usable()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._connections_lock:
                alive = []
                for thread_ref, other in self._connections:
                    thread = thread_ref()
                    if thread is not None and thread.is_alive():
                        alive.append((thread_ref, other))
                    else:
                        other.close()
                alive.append((weakref.ref(threading.current_thread()), conn))
                self._connections = alive
        return conn

    def _after_fork(self) -> None:
        """Give a forked child its own connections and locks.

        SQLite forbids using a connection in a child it was inherited by, and a lock held by
        another thread of the parent at the fork would never be released here. The inherited
        connections are kept referenced but never used or closed, so garbage collection does
        not run SQLite's close logic on the parent's files from this process.
        """
        self._pid = os.getpid()
        self._forked_away.extend(conn for _, conn in self._connections)
        if self._writer is not None:
            self._forked_away.append(self._writer)
            self._writer = None
        self._local = threading.local()
        self._connections = []
        self._connections_lock = threading.Lock()
        self._finished = threading.Condition()
        self._forked_checkpointers.append(self._checkpointer)  # its thread is not in this process
        self._checkpointer = Checkpointer(self._connect)
        self._writes = GroupCommit(self._checkpointer.committed)

    def _initialize(self) -> None:
        self._usable()
        with self._writes.lock:
            conn = self._writer_conn()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                logger.warning(
                    "SQLite database %r could not switch to WAL mode (journal_mode=%s); readers will wait "
                    "for writers. Is it on a network file system?",
                    self.path,
                    mode,
                )
            with self._writes.lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    (version,) = conn.execute("PRAGMA user_version").fetchone()
                    if version > SCHEMA_VERSION:
                        raise ConfigurationError(
                            f"the SQLite database {self.path!r} has schema version {version}, written by "
                            f"a newer flowgen (this one knows {SCHEMA_VERSION}); upgrade flowgen to open it"
                        )
                    for statement in (SCHEMA + SEARCH_SCHEMA).split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    add_missing_columns(conn)
                    sqlite_counts.install(conn)
                    if version < SCHEMA_VERSION:
                        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            self.close()
            raise ConfigurationError(
                f"cannot use {self.path!r} as a flowgen SQLite database: {error}"
            ) from error
        except BaseException:
            self.close()
            raise

    def _unavailable(self, error: sqlite3.Error) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"SQLite operation on {self.path!r} failed: {error} (if the database is locked, another "
            f"process held its write lock longer than timeout={self.timeout}s)"
        )

    def _write(self) -> _Write:
        """Run the body as one write transaction (``BEGIN IMMEDIATE``), committed when this returns.

        Threads queued on the write lock share one ``COMMIT`` (:mod:`.sqlite_group`); the body's
        writes are rolled back if it raises, and nothing is stored if the ``COMMIT`` fails.
        """
        self._usable()
        return _Write(self)

    def _read(self) -> _Read:
        """Run the body in one read transaction, so what it reads is one consistent snapshot."""
        return _Read(self)

    # -- runs -------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord | None:
        # One SELECT is one consistent snapshot by itself (autocommit): no BEGIN / COMMIT
        # around it. result() and every wait read a run this way.
        conn = self._conn()
        try:
            row = conn.execute(SELECT_RUN_BY_ID, (run_id,)).fetchone()
        except sqlite3.Error as error:
            raise self._unavailable(error) from error
        return None if row is None else record_from_row(row)

    def state_counts(self, now: float) -> StateCounts:
        """The counts the triggers keep, whatever the number of runs (:mod:`.sqlite_counts`)."""
        with self._read() as tx:
            return sqlite_counts.read(tx.conn, now)

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if workflow is not None:
            clauses.append("workflow = ?")
            params.append(workflow)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"{SELECT_RUN}{where} ORDER BY created DESC, run_id DESC LIMIT ? OFFSET ?"
        with self._read() as tx:
            rows = tx.conn.execute(query, (*params, -1 if limit is None else limit, offset)).fetchall()
        return [record_from_row(row) for row in rows]

    # -- advancing --------------------------------------------------------------------------

    # -- events, timers, reconciliation -----------------------------------------------------

    def claim_due_timers(self, now: float, limit: int, grace: float) -> list[str]:
        # A cheap read first: the poller calls this ten times a second, and most calls find
        # nothing; taking the write lock for them would make other processes wait.
        earliest = self.next_timer()
        if earliest is None or earliest > now:
            return []
        with self._write() as tx:
            return logic.claim_due_timers(tx, now, limit, grace)

    def next_timer(self) -> float | None:
        return self._earliest("timers", "due")

    def _earliest(self, table: str, column: str) -> float | None:
        with self._read() as tx:
            (value,) = tx.conn.execute(f"SELECT MIN({column}) FROM {table}").fetchone()
        return None if value is None else float(value)

    def next_lease_check(self) -> float | None:
        return self._earliest("leases", "check_at")

    def reconcile(self, now: float, limit: int, grace: float, backlog: float = 0.0) -> list[str]:
        # Cheap reads first, as for timers: most passes find nothing to do.
        ready = self._earliest("ready", "score")
        lease_check = self._earliest("leases", "check_at")
        ready_due = ready is not None and ready <= ready_cutoff(now, backlog)
        lease_due = lease_check is not None and lease_check <= now
        if not ready_due and not lease_due:
            return []
        with self._write() as tx:
            return logic.reconcile(tx, now, limit, grace, backlog)

    def sweep(self, now: float, limit: int = 1000) -> int:
        """Delete up to ``limit`` finished runs whose retention ended by ``now``; return how many."""
        with self._write() as tx:
            rows = tx.conn.execute(
                "SELECT run_id FROM runs WHERE expires IS NOT NULL AND expires <= ? ORDER BY expires LIMIT ?",
                (now, limit),
            ).fetchall()
            for (run_id,) in rows:
                for table in TABLES_OF_A_RUN:
                    tx.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        return len(rows)

    # -- parallel steps ---------------------------------------------------------------------

    # -- results and inspection -------------------------------------------------------------

    def wait_finished(self, run_id: str, timeout: float | None) -> RunRecord | None:
        """Block until the run has finished; ``None`` after ``timeout`` seconds.

        Woken at once by a commit of this process that finishes any run; a run finished by
        another process on the same file is seen within ``poll_interval`` seconds.

        Raises:
            RunNotFoundError: no such run.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # Note the notification count before reading, so a finish committed between
            # the read and the wait is not missed.
            with self._finished:
                seen = self._finish_count
            record = self.get_run_or_raise(run_id)
            if record.is_finished:
                return record
            wait = self.poll_interval
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                wait = min(wait, remaining)
            with self._finished:
                if self._finish_count == seen:
                    self._finished.wait(wait)

    def wait_any_finished(self, seen: int, timeout: float) -> int:
        """How many runs this process saw finish, after waiting up to ``timeout`` (at most
        ``poll_interval``: other processes' finishes are not notified) while it is still ``seen``."""
        with self._finished:
            if self._finish_count == seen:
                self._finished.wait(min(timeout, self.poll_interval))
            return self._finish_count

    def inbox(self, run_id: str) -> dict[str, list[InboxEvent]]:
        with self._read() as tx:
            rows = tx.conn.execute(
                "SELECT event_type, event_id, payload, sent FROM inbox WHERE run_id = ? ORDER BY seq",
                (run_id,),
            ).fetchall()
        events: dict[str, list[InboxEvent]] = {}
        for event_type, event_id, payload, sent in rows:
            events.setdefault(event_type, []).append(InboxEvent(event_id, payload, sent))
        return events

    def close(self) -> None:
        """Close every connection this store opened; later calls raise ``StoreUnavailableError``."""
        self._closed = True
        self._checkpointer.stop()
        with self._connections_lock:
            connections, self._connections = self._connections, []
        with self._writes.lock:  # a write under way ends first, an open group commits
            self._writes.flush()
            writer, self._writer = self._writer, None
        for conn in [*(conn for _, conn in connections), *([writer] if writer else [])]:
            try:
                conn.close()
            except sqlite3.Error:
                logger.exception("closing a SQLite connection to %r failed", self.path)
        with self._finished:
            self._finished.notify_all()


class _Write:
    """The ``with`` block of :meth:`SQLiteStore._write` (a class, not a generator: it runs
    for every write, several times per step boundary's worth of work)."""

    __slots__ = ("_first", "_group", "_store", "_tx")

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __enter__(self) -> SQLiteTx:
        store = self._store
        try:
            self._group, self._first = store._writes.enter(store._writer_conn)
        except sqlite3.Error as error:
            raise store._unavailable(error) from error
        tx = self._tx = SQLiteTx(self._group.conn, store.retention)
        return tx

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        store = self._store
        try:
            store._writes.leave(self._group, self._first, error)
        except sqlite3.Error as failure:
            raise store._unavailable(failure) from failure
        if self._tx.finished:
            with store._finished:
                store._finish_count += 1
                store._finished.notify_all()


class _Read:
    """The ``with`` block of :meth:`SQLiteStore._read`: ``BEGIN`` on this thread's connection,
    ``COMMIT`` (the end of the snapshot) however the body ends."""

    __slots__ = ("_conn", "_store")

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __enter__(self) -> SQLiteTx:
        store = self._store
        conn = self._conn = store._conn()
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as error:
            raise store._unavailable(error) from error
        return SQLiteTx(conn, store.retention)

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        conn = self._conn
        if conn.in_transaction:
            conn.execute("COMMIT")
        if isinstance(error, sqlite3.Error):
            raise self._store._unavailable(error) from error
