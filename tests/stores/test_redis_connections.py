"""The Redis store's per-thread script connections survive the server dropping them and forks."""

from __future__ import annotations

import multiprocessing
import time

import pytest
import redis

from flowgen.stores.base import NewRun
from flowgen.stores.redis import RedisStore

pytestmark = pytest.mark.redis


def test_a_script_connection_dropped_by_the_server_reconnects(redis_url: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    # Only the store's own connections are dropped: other clients of the shared test server
    # (the ledger of this process, workers of other tests) are not this test's to break.
    others = {int(client["id"]) for client in admin.client_list()}
    store = RedisStore(redis_url)
    try:
        assert store.create_run(NewRun("a", "wf", "{}", "fp", time.time()), time.time(), 1)[0]
        store._connection()  # this thread's script connection exists and is idle now
        mine = [int(client["id"]) for client in admin.client_list() if int(client["id"]) not in others]
        assert mine, "the store opened no connection of its own"
        for client_id in mine:
            admin.client_kill_filter(_id=client_id)
        created, record = store.create_run(NewRun("b", "wf", "{}", "fp", time.time()), time.time(), 1)
        assert created and record.run_id == "b"
    finally:
        store.close()
        admin.close()


def _create_in_child(store: RedisStore, run_id: str, parents_connection: int) -> None:
    # Same thread, same thread-local: the inherited connection must not be used.
    if id(store._connection()) == parents_connection:
        raise SystemExit(3)
    store.create_run(NewRun(run_id, "wf", "{}", "fp", time.time()), time.time(), 1)


def test_a_forked_child_makes_its_own_script_connection(redis_url: str) -> None:
    store = RedisStore(redis_url)
    try:
        assert store.create_run(NewRun("parent", "wf", "{}", "fp", time.time()), time.time(), 1)[0]
        connection = store._connection()
        child = multiprocessing.get_context("fork").Process(
            target=_create_in_child, args=(store, "child", id(connection))
        )
        child.start()
        child.join(30)

        assert child.exitcode == 0
        assert store._connection() is connection  # the parent keeps its own
        assert store.create_run(NewRun("after", "wf", "{}", "fp", time.time()), time.time(), 1)[0]
        assert {record.run_id for record in store.list_runs()} == {"parent", "child", "after"}
    finally:
        store.close()
