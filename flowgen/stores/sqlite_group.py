"""Group commit: the write transactions of several threads of one process in one SQLite ``COMMIT``.

Every store operation that writes is a transaction of its own, and the embedded engine's
threads commit often (five transactions per 3-step workflow). Most of a commit's cost is not
the operation but the commit: every page it changed goes to the ``-wal`` file as a whole 4 KiB
frame, and the same few pages (the run counts, the ready and lease indexes, the newest rows of
the run indexes) are written again by the next transaction a moment later.

:class:`GroupCommit` owns the process's write lock. A thread that ends its transaction while
other threads are queued on that lock does not commit: it leaves the transaction open for the
next holder and waits. The holder that finds nobody queued behind it (or the group full)
commits for all of them, and every member returns only once that ``COMMIT`` succeeded, so the
guarantee of each operation is unchanged: when it returns, what it wrote is committed, and an
operation that fails wrote nothing. Each member after the first runs inside a ``SAVEPOINT``:
an operation that raises (a run that does not exist, a refused commit) rolls back its own
writes and leaves the group's (the first member's failure rolls back the whole transaction,
which holds nothing else yet, so an idle store runs exactly ``BEGIN`` ... ``COMMIT``). A ``COMMIT`` that fails fails every member of the group (none of their writes is
stored). An idle process never waits: with nobody queued, a transaction commits at once.

The members of a group are serialized by the lock exactly as separate transactions were, so
each one sees what the members before it wrote; the only change for other processes is that
SQLite's write lock is held for the group rather than for one operation.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable

GROUP_LIMIT = 16
"""Members of one group at most: bounds how long the first member waits for its ``COMMIT``."""
RESCUE_INTERVAL = 0.05
"""How often a member waiting for its group's ``COMMIT`` checks that somebody will still commit it."""


class _Group:
    """One open transaction and the members waiting for its ``COMMIT``."""

    __slots__ = ("conn", "done", "error", "size")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.done = False
        """Set (under the write lock) once the group committed or rolled back."""
        self.error: sqlite3.Error | None = None
        self.size = 0


class GroupCommit:
    """The write lock of one process's SQLite store, committing queued writers together.

    Args:
        on_commit: called after every successful ``COMMIT`` (under the lock).
        limit: members of one group at most.
    """

    def __init__(self, on_commit: Callable[[], None], limit: int = GROUP_LIMIT) -> None:
        self.lock = threading.Lock()
        """Held by the thread writing; take it (then :meth:`flush`) to use the writer yourself."""
        self._on_commit = on_commit
        self._limit = limit
        self._count_lock = threading.Lock()
        self._waiting = 0
        self._group: _Group | None = None
        self._ended = threading.Condition(threading.Lock())
        """Notified when a group of more than one member ends (its members wait on it)."""
        self.commits = 0
        """``COMMIT`` statements run (for tests and diagnostics)."""

    def write(self, connect: Callable[[], sqlite3.Connection]) -> Member:
        """Run the body (``with group.write(connect) as conn:``) as one member of a group; the
        ``with`` ends once its writes are committed.

        ``connect`` gives the writer connection (called under the lock). Raises the
        ``sqlite3.Error`` of a failed ``BEGIN`` or ``COMMIT``, or what the body raised (its
        writes rolled back).
        """
        return Member(self, connect)

    def enter(self, connect: Callable[[], sqlite3.Connection]) -> tuple[_Group, bool]:
        """Take the write lock and join the open group (or begin one): the first half of
        :meth:`write`, for callers with a context manager of their own. Returns the group and
        whether this member is its first; pass both to :meth:`leave`."""
        lock = self.lock
        if not lock.acquire(blocking=False):  # contended: count this thread as queued
            with self._count_lock:
                self._waiting += 1
            try:
                lock.acquire()
            finally:
                with self._count_lock:
                    self._waiting -= 1
        try:
            group = self._group
            if group is None:
                conn = connect()
                conn.execute("BEGIN IMMEDIATE")
                group = self._group = _Group(conn)
            group.size += 1
            # The first member needs no savepoint: the transaction holds its writes only, so a
            # ROLLBACK of it all undoes them (and an idle store runs exactly BEGIN ... COMMIT).
            first = group.size == 1
            if not first:
                try:
                    group.conn.execute("SAVEPOINT flowgen_write")
                except sqlite3.Error as error:  # the transaction is in doubt: the group fails
                    group.error = error
                    self._end(group)
                    raise
        except BaseException:
            lock.release()
            raise
        return group, first

    def leave(self, group: _Group, first: bool, failure: BaseException | None) -> None:
        """End a member's body (``failure``: what it raised, ``None`` if it returned): the
        second half of :meth:`write`. Returns once its writes are committed; raises the
        ``COMMIT``'s error, or ``failure`` after rolling back the member's writes."""
        try:
            if failure is None and not first:
                try:
                    group.conn.execute("RELEASE flowgen_write")
                except BaseException as error:
                    failure = error
            if failure is not None:
                if first:
                    self._abandon(group)
                else:
                    self._undo(group)
            if self._group is group and (
                group.error is not None or not self._waiting or group.size >= self._limit
            ):
                self._end(group)
        finally:
            self.lock.release()
        if failure is not None:
            raise failure
        if not group.done:
            self._await(group)
        if group.error is not None:
            raise group.error

    def flush(self) -> None:
        """Commit the open group now (call with :attr:`lock` held, e.g. before closing the writer)."""
        group = self._group
        if group is not None:
            self._end(group)

    def _abandon(self, group: _Group) -> None:
        """Roll back a group whose first and only member failed (nobody else waits for it)."""
        self._group = None
        try:
            with contextlib.suppress(sqlite3.Error):  # unusable: the next BEGIN reports it
                if group.conn.in_transaction:
                    group.conn.execute("ROLLBACK")
        finally:
            self._done(group)

    def _undo(self, group: _Group) -> None:
        """Roll back one member's writes; if that is impossible, the whole group fails."""
        conn = group.conn
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO flowgen_write")
                conn.execute("RELEASE flowgen_write")
            elif group.error is None:
                group.error = sqlite3.OperationalError("SQLite rolled the transaction back")
        except sqlite3.Error as error:
            group.error = error

    def _end(self, group: _Group) -> None:
        """``COMMIT`` the group (``ROLLBACK`` when it failed) and wake its members; under the lock."""
        self._group = None
        conn = group.conn
        try:
            if group.error is None:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as error:
                    group.error = error
                else:
                    self.commits += 1
            if group.error is not None and conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # unusable: the members get the first error
                    conn.execute("ROLLBACK")
        finally:
            self._done(group)
        if group.error is None:
            self._on_commit()

    def _done(self, group: _Group) -> None:
        group.done = True
        if group.size > 1:  # members other than the one ending it may be waiting
            with self._ended:
                self._ended.notify_all()

    def _await(self, group: _Group) -> None:
        # The thread this one handed the group to normally commits it. Should the lock be free
        # with the group still open (that thread gave up waiting for the lock), commit it here.
        # (``done`` is set before the notification, which takes ``_ended``: checked under it,
        # a wait cannot miss the notification.)
        while not group.done:
            with self._ended:
                if not group.done:
                    self._ended.wait(RESCUE_INTERVAL)
            if not group.done and self.lock.acquire(blocking=False):
                try:
                    if self._group is group:
                        self._end(group)
                finally:
                    self.lock.release()


class Member:
    """``with``-block of one member of a group (what :meth:`GroupCommit.write` returns)."""

    __slots__ = ("_commit", "_connect", "_first", "_group")

    def __init__(self, commit: GroupCommit, connect: Callable[[], sqlite3.Connection]) -> None:
        self._commit = commit
        self._connect = connect

    def __enter__(self) -> sqlite3.Connection:
        self._group, self._first = self._commit.enter(self._connect)
        return self._group.conn

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        self._commit.leave(self._group, self._first, error)
