"""Group commit and background checkpoints of the SQLite store (flowgen/stores/sqlite_group.py,
sqlite_checkpoint.py): several threads' writes in one COMMIT, each returning only once it is
committed, a failing member leaving the others' writes, a failing COMMIT failing them all."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from flowgen.errors import StoreUnavailableError
from flowgen.stores.sqlite import SQLiteStore
from flowgen.stores.sqlite_checkpoint import AUTOCHECKPOINT_PAGES
from flowgen.stores.sqlite_group import GroupCommit

from ..conftest import wait_until
from .support import GRACE, T, new_run


class Writers:
    """A file with one table, one shared writer connection and a GroupCommit, as the store has."""

    def __init__(self, path: Path) -> None:
        self.path = path
        setup = sqlite3.connect(path, isolation_level=None)
        setup.execute("PRAGMA journal_mode = WAL")
        setup.execute("CREATE TABLE parent (id TEXT PRIMARY KEY)")
        setup.execute(
            "CREATE TABLE item (name TEXT PRIMARY KEY, "
            "parent TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        setup.close()
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.commits_seen = 0
        self.group = GroupCommit(self._committed)

    def _committed(self) -> None:
        self.commits_seen += 1

    def names(self) -> set[str]:
        reader = sqlite3.connect(self.path, isolation_level=None)
        try:
            return {name for (name,) in reader.execute("SELECT name FROM item")}
        finally:
            reader.close()

    def insert(self, name: str, parent: str | None = None, body: Callable[[], None] = lambda: None) -> None:
        with self.group.write(lambda: self.conn) as conn:
            conn.execute("INSERT INTO item (name, parent) VALUES (?, ?)", (name, parent))
            body()


class Member(threading.Thread):
    """One writer thread; ``error`` is what its write raised, ``returned`` is set once it returned."""

    def __init__(self, action: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.action = action
        self.error: BaseException | None = None
        self.returned = threading.Event()

    def run(self) -> None:
        try:
            self.action()
        except BaseException as error:
            self.error = error
        self.returned.set()


def queued(writers: Writers, count: int) -> Callable[[], bool]:
    return lambda: writers.group._waiting == count


def test_a_writer_with_others_queued_hands_its_transaction_on_and_returns_once_committed(
    tmp_path: Path,
) -> None:
    writers = Writers(tmp_path / "g.db")
    release_second = threading.Event()
    first = Member(lambda: writers.insert("a", body=lambda: wait_until(queued(writers, 1), 10, "b queued")))
    second = Member(lambda: writers.insert("b", body=lambda: release_second.wait(10) or None))
    first.start()
    wait_until(lambda: writers.group.lock.locked(), 10, "the first writer inside")
    second.start()

    # The first writer ended its body with the second queued: it did not commit, and waits.
    wait_until(lambda: writers.group._group is not None and writers.group._group.size == 2, 10, "b joined")
    assert not first.returned.is_set()
    assert writers.names() == set()

    release_second.set()
    first.join(10)
    second.join(10)
    assert first.error is None and second.error is None
    assert writers.names() == {"a", "b"}
    assert writers.group.commits == writers.commits_seen == 1


def test_a_member_that_raises_rolls_back_only_its_own_writes(tmp_path: Path) -> None:
    writers = Writers(tmp_path / "g.db")

    def fail() -> None:
        raise ValueError("refused")

    first = Member(lambda: writers.insert("a", body=lambda: wait_until(queued(writers, 1), 10, "b queued")))
    second = Member(lambda: writers.insert("b", body=fail))
    first.start()
    wait_until(lambda: writers.group.lock.locked(), 10, "the first writer inside")
    second.start()
    first.join(10)
    second.join(10)

    assert first.error is None
    assert isinstance(second.error, ValueError)
    assert writers.names() == {"a"}
    assert writers.group.commits == 1


def test_a_member_failing_after_a_successful_one_rolls_back_only_its_own_writes(tmp_path: Path) -> None:
    # A successful member's savepoint stays open until the COMMIT; the next member's nests in
    # it, and its ROLLBACK TO must undo that member's writes only, not the one before.
    writers = Writers(tmp_path / "g.db")
    second_inside = threading.Event()

    def fail() -> None:
        raise ValueError("refused")

    def second_body() -> None:
        second_inside.set()
        wait_until(queued(writers, 1), 10, "c queued")

    first = Member(lambda: writers.insert("a", body=lambda: wait_until(queued(writers, 1), 10, "b queued")))
    second = Member(lambda: writers.insert("b", body=second_body))
    third = Member(lambda: writers.insert("c", body=fail))
    first.start()
    wait_until(lambda: writers.group.lock.locked(), 10, "the first writer inside")
    second.start()
    assert second_inside.wait(10)
    third.start()
    for member in (first, second, third):
        member.join(10)

    assert first.error is None and second.error is None
    assert isinstance(third.error, ValueError)
    assert writers.names() == {"a", "b"}
    assert writers.group.commits == 1


def test_a_failing_commit_fails_every_member_and_stores_nothing(tmp_path: Path) -> None:
    writers = Writers(tmp_path / "g.db")
    # "b" names a parent that does not exist: the deferred foreign key fails the group's COMMIT.
    first = Member(lambda: writers.insert("a", body=lambda: wait_until(queued(writers, 1), 10, "b queued")))
    second = Member(lambda: writers.insert("b", parent="missing"))
    first.start()
    wait_until(lambda: writers.group.lock.locked(), 10, "the first writer inside")
    second.start()
    first.join(10)
    second.join(10)

    assert isinstance(first.error, sqlite3.IntegrityError)
    assert isinstance(second.error, sqlite3.IntegrityError)
    assert writers.names() == set()
    assert writers.group.commits == writers.commits_seen == 0
    writers.insert("c")  # the writer is usable again
    assert writers.names() == {"c"}


def test_an_idle_writer_commits_at_once(tmp_path: Path) -> None:
    writers = Writers(tmp_path / "g.db")
    for name in ("a", "b", "c"):
        writers.insert(name)
        assert name in writers.names()
    assert writers.group.commits == 3


def test_concurrent_store_writes_are_all_committed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    barrier = threading.Barrier(8)

    def create(thread: int) -> None:
        barrier.wait(10)
        for index in range(50):
            store.create_runs([new_run(f"r{thread}-{index}")], T, GRACE)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    reader = SQLiteStore(tmp_path / "s.db")
    assert {r.run_id for r in reader.list_runs(limit=None)} == {f"r{t}-{i}" for t in range(8) for i in range(50)}
    reader.close()
    store.close()


def test_checkpoints_run_on_their_own_thread(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    for index in range(250):
        store.create_runs([new_run(f"r{index}")], T, GRACE)
    wait_until(lambda: store._checkpointer.checkpoints >= 2, 30, "two background checkpoints")
    (pages,) = store._writer_conn().execute("PRAGMA wal_autocheckpoint").fetchone()
    assert pages == AUTOCHECKPOINT_PAGES
    store.close()
    assert store._checkpointer._thread is not None and not store._checkpointer._thread.is_alive()


def test_a_group_handed_to_a_writer_that_never_comes_is_committed_by_its_member(tmp_path: Path) -> None:
    writers = Writers(tmp_path / "g.db")

    def phantom() -> None:
        writers.group._waiting += 1  # a writer queued that will give up (interrupted)

    writers.insert("a", body=phantom)  # hands the group on, then commits it itself
    writers.group._waiting -= 1
    assert writers.names() == {"a"}
    assert writers.group.commits == 1


def test_a_store_closed_while_a_writer_queues_refuses_the_write(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with store._writes.lock:
        writer = Member(lambda: store.create_runs([new_run("late")], T, GRACE))
        writer.start()
        wait_until(lambda: store._writes._waiting == 1, 10, "the writer queued")
        store._closed = True  # close() itself waits for this lock
    writer.join(10)
    assert isinstance(writer.error, StoreUnavailableError)
    store._closed = False
    store.close()


def test_a_first_member_that_raises_leaves_the_writer_usable_for_the_next(tmp_path: Path) -> None:
    writers = Writers(tmp_path / "g.db")

    def fail() -> None:
        raise ValueError("refused")

    try:
        writers.insert("a", body=fail)
    except ValueError:
        pass
    else:
        raise AssertionError("the body's error must propagate")
    writers.insert("b")
    assert writers.names() == {"b"}
    assert writers.group.commits == 1
