"""The doorbell wakes one idle consumer per message, and never leaves a message behind an idle one.

Idle consumers block on their queue's wake-up list (``BLPOP``); a ring leaves at least one
token per waiting message and Redis hands each token to one blocked consumer, so one message
wakes one worker process instead of all of them (the others' empty fetches cost CPU when the
woken one needs it). Liveness: a consumer that starts waiting while a message waits finds a
token at once; a consumer that went away while blocked takes no token; a fetch that empties the
queue clears the stale tokens, so a later wait blocks instead of fetching nothing.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from dramatiq.message import Message

from flowgen.transports.doorbell import DoorbellRedisBroker, doorbell_key
from flowgen.transports.doorbell_scripts import MAX_TOKENS
from tests.conftest import wait_until

pytestmark = pytest.mark.redis

QUEUE = "q"
NAMESPACE = "wake"


def _message(index: int) -> Message:
    return Message(queue_name=QUEUE, actor_name="a", args=(index,), kwargs={}, options={})


class Waiter:
    """One consumer (its own broker: another worker process) waiting on the doorbell in a thread."""

    def __init__(self, url: str, idle_timeout: float) -> None:
        self.client = redis.Redis.from_url(url)
        self.broker = DoorbellRedisBroker(client=self.client, namespace=NAMESPACE)
        self.broker.declare_queue(QUEUE)
        self.consumer: Any = self.broker.consume(QUEUE, prefetch=4, timeout=1000)
        self.consumer.idle_timeout = idle_timeout
        self.woke = threading.Event()
        self.thread: threading.Thread | None = None

    def wait(self) -> None:
        self.woke.clear()

        def run() -> None:
            self.consumer._wait_for_doorbell()
            self.woke.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join(60)
        self.consumer.close()
        self.broker.close()
        self.client.close()


@pytest.fixture
def waiters(single_redis_url: str) -> Iterator[list[Waiter]]:
    made = [Waiter(single_redis_url, idle_timeout=30) for _ in range(2)]
    yield made
    client = redis.Redis.from_url(single_redis_url)
    for _ in made:  # release a waiter still blocked
        client.lpush(doorbell_key(NAMESPACE, QUEUE), "1")
    for waiter in made:
        waiter.close()
    client.close()


def _blocked(client: redis.Redis, count: int) -> bool:
    return int(client.info("clients")["blocked_clients"]) >= count


def test_one_message_wakes_one_of_two_idle_consumers_and_the_next_wakes_the_other(
    single_redis_url: str, waiters: list[Waiter]
) -> None:
    client = redis.Redis.from_url(single_redis_url)
    for waiter in waiters:
        waiter.wait()
    wait_until(lambda: _blocked(client, 2), 20, "both consumers to block on the doorbell")

    waiters[0].broker.enqueue_many([_message(1)])
    wait_until(lambda: any(w.woke.is_set() for w in waiters), 20, "a consumer to wake")
    assert _blocked(client, 1) and not _blocked(client, 2)  # the other one still waits
    assert sum(w.woke.is_set() for w in waiters) == 1

    waiters[0].broker.enqueue_many([_message(2)])
    wait_until(lambda: all(w.woke.is_set() for w in waiters), 20, "the second message to wake the other")
    client.close()


def test_a_consumer_that_starts_waiting_while_a_message_waits_returns_at_once(
    single_redis_url: str, waiters: list[Waiter]
) -> None:
    first = waiters[0]
    first.broker.enqueue_many([_message(1), _message(2)])  # nobody waits yet: two tokens
    started = time.monotonic()
    first.consumer._wait_for_doorbell()
    assert time.monotonic() - started < 10  # not the 30 s idle timeout

    # A fetch that empties the queue clears the token left over: a wait now blocks.
    fetched = first.consumer._send([], 4)
    assert len(fetched) == 2
    client = redis.Redis.from_url(single_redis_url)
    assert client.llen(doorbell_key(NAMESPACE, QUEUE)) == 0
    first.wait()
    wait_until(lambda: _blocked(client, 1), 20, "the consumer to block")
    assert not first.woke.is_set()
    first.broker.enqueue_many([_message(3)])
    wait_until(first.woke.is_set, 20, "the new message to wake it")
    client.close()


def test_a_consumer_gone_while_blocked_takes_no_token(single_redis_url: str, waiters: list[Waiter]) -> None:
    client = redis.Redis.from_url(single_redis_url)
    host, port = (
        client.connection_pool.connection_kwargs["host"],
        client.connection_pool.connection_kwargs["port"],
    )
    gone = socket.create_connection((host, port))  # a worker process blocked on the doorbell, then killed
    key = doorbell_key(NAMESPACE, QUEUE)
    gone.sendall(f"*3\r\n$5\r\nBLPOP\r\n${len(key)}\r\n{key}\r\n$1\r\n0\r\n".encode())
    wait_until(lambda: _blocked(client, 1), 20, "the doomed connection to block")
    gone.close()
    wait_until(lambda: not _blocked(client, 1), 20, "Redis to drop the closed connection")

    waiters[0].broker.enqueue_many([_message(1)])
    waiters[1].wait()
    wait_until(waiters[1].woke.is_set, 20, "the live consumer to get the token")
    client.close()


def test_a_ring_after_a_large_requeue_adds_at_most_max_tokens(single_redis_url: str) -> None:
    client = redis.Redis.from_url(single_redis_url)
    broker = DoorbellRedisBroker(client=client, namespace=NAMESPACE)
    enqueue = [broker.dispatch_call(QUEUE, "enqueue", [f"m{index}", _message(index).encode()]) for index in range(1200)]
    broker.call_scripts(enqueue)  # as a requeue that did not ring: 1,200 messages, no token
    assert client.llen(doorbell_key(NAMESPACE, QUEUE)) == 0
    broker.ring(QUEUE)
    assert client.llen(doorbell_key(NAMESPACE, QUEUE)) == MAX_TOKENS
    broker.ring(QUEUE)
    assert client.llen(doorbell_key(NAMESPACE, QUEUE)) == MAX_TOKENS
    broker.close()
    client.close()


def test_a_socket_timeout_shorter_than_the_idle_wait_ends_the_wait_as_a_timeout(single_redis_url: str) -> None:
    # A client made with ?socket_timeout=0.2 cannot block for the 30 s idle wait: the consumer
    # must treat the socket's timeout as the wait's end (and poll), not fail, and still be woken.
    client = redis.Redis.from_url(single_redis_url, socket_timeout=0.2)
    broker = DoorbellRedisBroker(client=client, namespace=NAMESPACE)
    broker.declare_queue(QUEUE)
    consumer: Any = broker.consume(QUEUE, prefetch=4, timeout=1000)
    consumer.idle_timeout = 30
    started = time.monotonic()
    consumer._wait_for_doorbell()  # raised redis.TimeoutError before
    assert time.monotonic() - started < 10
    broker.enqueue_many([_message(1)])
    consumer._wait_for_doorbell()  # the token is there: returns at once
    assert len(consumer._send([], 4)) == 1
    consumer.close()
    broker.close()
    client.close()
