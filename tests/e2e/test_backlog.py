"""The reconciler and the queue's backlog, on Redis with Dramatiq's queue layout.

A run whose message waits in a long queue is not lost: enqueueing it again every ``grace``
seconds would multiply the queue exactly when the workers are behind. The transport measures
how long the oldest waiting message has waited, and the reconciler leaves alone the runs
enqueued after it.
"""

from __future__ import annotations

import time

import pytest
import redis

import flowgen
from flowgen.services import Services
from tests.apps import core
from tests.conftest import wait_until
from tests.redis_urls import redis_client

pytestmark = pytest.mark.redis


def _queued_run_ids(client: redis.Redis, queue_key: str) -> list[str]:
    """The run ids of the ``advance`` messages waiting in the queue, in order."""
    from dramatiq.message import Message

    messages = client.hgetall(queue_key + ".msgs")
    return [Message.decode(messages[i]).args[0] for i in client.lrange(queue_key, 0, -1)]


def test_backlog_is_how_long_the_oldest_waiting_message_has_waited(redis_url: str) -> None:
    with flowgen.Engine(redis_url, start_workers=False) as engine:
        transport = engine.transport
        queue_key = f"{transport.broker.namespace}:{transport.queue}"
        client = redis_client(redis_url)
        assert transport.backlog() == 0.0

        first_sent = time.monotonic()
        engine.start(core.five_steps, 1)
        wait_until(lambda: transport.backlog() >= 0.3, 10, "the first message never looked 0.3 s old")
        second_sent = time.monotonic()
        engine.start(core.five_steps, 2)

        # Still the first message's age, not the second's.
        assert 0.3 <= transport.backlog() <= time.monotonic() - first_sent + 0.01
        client.lpop(queue_key)  # a worker fetched the first message
        assert transport.backlog() <= time.monotonic() - second_sent + 0.01
        client.lpop(queue_key)
        assert transport.backlog() == 0.0
        client.close()


def test_reconciler_leaves_runs_queued_behind_the_backlog_and_repairs_lost_messages(redis_url: str) -> None:
    # Long enough that no pause between a run's write and its message makes it look overdue.
    grace = 1.0
    with flowgen.Engine(redis_url, start_workers=False, grace=grace) as engine:
        transport = engine.transport
        queue_key = f"{transport.broker.namespace}:{transport.queue}"
        client = redis_client(redis_url)
        services = Services(
            engine.store, transport.enqueue, engine.clock, grace=grace, backlog=transport.backlog
        )
        started = engine.start_many(core.five_steps, [((x,), None, None) for x in range(50)])
        assert len(started.created) == 50 and client.llen(queue_key) == 50

        # No worker runs: every run is overdue by a grace period or more, yet each one's
        # message is still in the queue, so the reconciler must not add a second one.
        wait_until(lambda: transport.backlog() > 2 * grace, 10, "the queue never looked 2 grace periods old")
        assert services.reconcile() is False
        assert client.llen(queue_key) == 50

        # The messages are lost (say, the broker's keys were flushed): now they are stuck.
        client.delete(queue_key, queue_key + ".msgs")
        assert transport.backlog() == 0.0
        services.reconcile()
        assert sorted(_queued_run_ids(client, queue_key)) == sorted(started.created)
        client.close()
