"""The Redis store's per-thread script connections survive the server dropping them."""

from __future__ import annotations

import time

import pytest
import redis

from flowgen.stores.base import NewRun
from flowgen.stores.redis import RedisStore

pytestmark = pytest.mark.redis


def test_a_script_connection_dropped_by_the_server_reconnects(redis_url: str) -> None:
    store = RedisStore(redis_url)
    admin = redis.Redis.from_url(redis_url)
    try:
        assert store.create_run(NewRun("a", "wf", "{}", "fp", time.time()), time.time(), 1)[0]
        store._connection()  # this thread's script connection exists and is idle now
        for client in admin.client_list():
            if int(client["id"]) != admin.client_id():
                admin.client_kill_filter(_id=client["id"])
        created, record = store.create_run(NewRun("b", "wf", "{}", "fp", time.time()), time.time(), 1)
        assert created and record.run_id == "b"
    finally:
        store.close()
        admin.close()
