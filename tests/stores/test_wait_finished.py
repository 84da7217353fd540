"""Conformance: waiting for a run to finish, and the retention sweep of stores that keep runs."""

from __future__ import annotations

import threading
import time

import pytest

from flowgen.errors import RunNotFoundError
from flowgen.status import RunStatus
from flowgen.stores.base import Finish, RunRecord, Store

from .conftest import OpenStore
from .support import GRACE, T, change, created, started


def _wait_in_thread(
    store: Store, run_id: str, timeout: float
) -> tuple[threading.Thread, list[RunRecord | None]]:
    results: list[RunRecord | None] = []
    thread = threading.Thread(
        target=lambda: results.append(store.wait_finished(run_id, timeout)), daemon=True
    )
    thread.start()
    return thread, results


def test_wait_finished_returns_when_another_thread_finishes_the_run(store: Store) -> None:
    snapshot = started(store)
    waiter, results = _wait_in_thread(store, "r1", 30)
    waiter.join(0.2)
    assert waiter.is_alive(), "wait_finished returned before the run finished"
    finished_at = time.monotonic()

    assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED, output='"done"')), T, GRACE).ok

    waiter.join(10)
    assert not waiter.is_alive()
    assert time.monotonic() - finished_at < 5
    record = results[0]
    assert record is not None and (record.status, record.output) == (RunStatus.COMPLETED, '"done"')


def test_wait_finished_returns_a_finished_run_at_once(store: Store) -> None:
    snapshot = started(store)
    assert store.commit(change(snapshot, Finish(RunStatus.FAILED, error={"type": "E"})), T, GRACE).ok

    record = store.wait_finished("r1", 0)

    assert record is not None and (record.status, record.error) == (RunStatus.FAILED, {"type": "E"})


def test_wait_finished_returns_none_on_timeout(store: Store) -> None:
    created(store)
    start = time.monotonic()

    assert store.wait_finished("r1", 0.3) is None

    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 5


def test_wait_finished_is_not_woken_by_another_run_finishing(store: Store) -> None:
    created(store, "r1")
    other = started(store, "other")
    waiter, results = _wait_in_thread(store, "r1", 1.0)

    assert store.commit(change(other, Finish(RunStatus.COMPLETED)), T, GRACE).ok
    waiter.join(10)

    assert not waiter.is_alive() and results == [None]


def test_wait_finished_on_a_missing_run_raises(store: Store) -> None:
    with pytest.raises(RunNotFoundError):
        store.wait_finished("nope", 0.2)


def test_wait_finished_sees_a_run_finished_through_another_handle(open_store: OpenStore) -> None:
    first = open_store()
    second = open_store()
    snapshot = started(first)
    waiter, results = _wait_in_thread(first, "r1", 30)

    assert second.commit(change(snapshot, Finish(RunStatus.COMPLETED, output="1")), T, GRACE).ok

    waiter.join(10)
    assert not waiter.is_alive()
    record = results[0]
    assert record is not None and record.status == RunStatus.COMPLETED


def test_sweep_deletes_finished_runs_once_their_retention_ended(
    open_store: OpenStore, store_kind: str
) -> None:
    if store_kind == "memory":
        pytest.skip("the memory store keeps nothing beyond the process and has no retention")
    store = open_store(retention=0)
    done = started(store, "done")
    started(store, "live")
    store.send_event("done", "go", "null", "e1", T, GRACE)
    # wall-clock time: Redis expires keys on its own clock
    now = time.time()
    assert store.commit(change(done, Finish(RunStatus.COMPLETED)), now, GRACE).ok

    deadline = time.monotonic() + 10
    while store.get_run("done") is not None or "done" in [r.run_id for r in store.list_runs()]:
        assert time.monotonic() < deadline, "the finished run was never swept"
        store.sweep(time.time() + 1, 1000)  # type: ignore[attr-defined]
        time.sleep(0.05)

    assert store.read_journal("done") == []
    assert store.list_runs(status=RunStatus.COMPLETED) == []
    assert [r.run_id for r in store.list_runs()] == ["live"]
    assert store.get_run("live") is not None
