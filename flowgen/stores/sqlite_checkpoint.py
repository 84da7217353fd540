"""Checkpoints of the SQLite store's write-ahead log, on a thread of their own.

In WAL mode every commit appends pages to the ``-wal`` file, and a *checkpoint* copies them
back into the database file (then syncs it) so the log can start over. SQLite's default runs
that checkpoint inside the ``COMMIT`` that pushes the log past 1000 pages: on this store that is
every 30 or so workflows, and that commit then copies four megabytes and waits for a disk sync
while it holds the process's write lock, so every other thread's step boundary waits behind it
(the idle start-to-result p99 of the embedded engine was mostly these stalls).

:class:`Checkpointer` moves the work off the commit path: the store counts its commits and,
every :data:`EVERY_COMMITS`, wakes a daemon thread that runs ``PRAGMA wal_checkpoint(PASSIVE)``
on its own connection. A passive checkpoint takes neither the write lock nor a busy wait, so
writers keep appending while it copies. The connections keep an automatic checkpoint at
:data:`AUTOCHECKPOINT_PAGES` as a bound on the log should this thread fall behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

logger = logging.getLogger("flowgen.stores.sqlite")

EVERY_COMMITS = 100
"""Commits between two background checkpoints (a commit writes a few pages: a few hundred pages)."""
AUTOCHECKPOINT_PAGES = 10_000
"""``wal_autocheckpoint`` of the store's connections: the commit-path checkpoint, now a safety net."""


class Checkpointer:
    """Runs passive WAL checkpoints on a daemon thread, woken every :data:`EVERY_COMMITS` commits.

    Args:
        connect: opens a connection to the store's file (called once, on the thread).
        every: commits between two checkpoints.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], every: int = EVERY_COMMITS) -> None:
        self._connect = connect
        self._every = every
        self._commits = 0
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.checkpoints = 0
        """Checkpoints run so far (for tests and diagnostics)."""

    def committed(self) -> None:
        """Count one commit of this process; every ``every``-th wakes the thread (started on first use)."""
        self._commits += 1  # under the store's write lock: no lost updates
        if self._commits % self._every or self._stopped:
            return
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="flowgen-sqlite-checkpoint", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopped:
                    return
                try:
                    if conn is None:
                        conn = self._connect()
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error:
                    # Not fatal: the log only grows until the next checkpoint (or the commit-path
                    # one at AUTOCHECKPOINT_PAGES) succeeds.
                    logger.warning("a background WAL checkpoint failed", exc_info=True)
        finally:
            if conn is not None:
                conn.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (a checkpoint under way finishes first)."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
