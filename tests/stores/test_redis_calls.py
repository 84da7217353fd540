"""The store's own script round trip (flowgen/stores/redis_calls.py) behaves as redis-py's does."""

from __future__ import annotations

import time
from unittest import mock

import pytest
import redis

from flowgen.stores import redis_calls
from flowgen.stores.base import NewRun
from flowgen.stores.redis import RedisStore

pytestmark = pytest.mark.redis


def _connection(redis_url: str) -> redis.Connection:
    pool = redis.Redis.from_url(redis_url, health_check_interval=30).connection_pool
    conn = pool.connection_class(**pool.connection_kwargs)
    conn.connect()
    return conn


def test_a_reply_is_read_without_redis_py_layers_and_an_error_reply_raises(redis_url: str) -> None:
    conn = _connection(redis_url)
    try:
        with mock.patch.object(conn, "read_response", side_effect=AssertionError("public path")):
            assert redis_calls.roundtrip(conn, redis_calls.pack("ECHO", "hello")) == b"hello"
            with pytest.raises(redis.exceptions.NoScriptError):
                redis_calls.roundtrip(conn, redis_calls.pack("EVALSHA", "0" * 40, 0))
            # the error reply was read whole: the connection stays usable
            assert redis_calls.roundtrip(conn, redis_calls.pack("ECHO", "again")) == b"again"
    finally:
        conn.disconnect()


def test_a_long_reply_arrives_in_several_reads(redis_url: str) -> None:
    conn = _connection(redis_url)
    try:
        value = "x" * 300_000  # far beyond the parser's 64 KiB read buffer
        assert redis_calls.roundtrip(conn, redis_calls.pack("ECHO", value)) == value.encode()
    finally:
        conn.disconnect()


def test_a_due_health_check_goes_through_redis_py(redis_url: str) -> None:
    conn = _connection(redis_url)
    try:
        conn.next_health_check = time.monotonic() - 1
        with mock.patch.object(conn, "read_response", wraps=conn.read_response) as public:
            assert redis_calls.roundtrip(conn, redis_calls.pack("ECHO", "checked")) == b"checked"
        assert public.call_count >= 1
        assert conn.next_health_check > time.monotonic()
    finally:
        conn.disconnect()


def test_a_connection_closed_by_the_server_raises_connection_error_and_disconnects(redis_url: str) -> None:
    conn = _connection(redis_url)
    admin = redis.Redis.from_url(redis_url)
    try:
        mine = int(redis_calls.roundtrip(conn, redis_calls.pack("CLIENT", "ID")))
        admin.client_kill_filter(_id=mine)
        with pytest.raises(redis.exceptions.ConnectionError):
            redis_calls.roundtrip(conn, redis_calls.pack("ECHO", "lost"))
        assert conn._sock is None  # disconnected: never reused with an unread reply
    finally:
        conn.disconnect()
        admin.close()


def test_the_store_reloads_scripts_flushed_from_redis(redis_url: str) -> None:
    store = RedisStore(redis_url)
    admin = redis.Redis.from_url(redis_url)
    try:
        assert store.create_run(NewRun("a", "wf", "{}", "fp", time.time()), time.time(), 1)[0]
        admin.script_flush()
        created, record = store.create_run(NewRun("b", "wf", "{}", "fp", time.time()), time.time(), 1)
        assert created and record.run_id == "b"
    finally:
        store.close()
        admin.close()


def test_the_doorbell_brokers_held_connection_survives_the_server_closing_it(redis_url: str) -> None:
    # As Redis's ``timeout`` does to idle clients: the next script call finds the socket
    # closed before Redis ran anything, reconnects and is sent again.
    from flowgen.transports.doorbell import DoorbellRedisBroker

    client = redis.Redis.from_url(redis_url)
    admin = redis.Redis.from_url(redis_url)
    broker = DoorbellRedisBroker(client=client, namespace="held")
    try:
        assert broker.call_scripts([broker.presence_call("q")]) == [1]
        mine = int(redis_calls.roundtrip(broker._held.get(), redis_calls.pack("CLIENT", "ID")))
        admin.client_kill_filter(_id=mine)
        assert broker.call_scripts([broker.presence_call("q")], ring=["q"]) == [1]
        assert broker.live_consumers("q") == 1
    finally:
        broker.close()
        admin.close()
