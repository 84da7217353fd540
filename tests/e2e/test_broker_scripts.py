"""The Doorbell broker's pipelined script calls: batched acks, fetches, and a lost script cache."""

from __future__ import annotations

import pytest
import redis
from dramatiq.message import Message

from flowgen.transports.doorbell import DoorbellRedisBroker
from tests.redis_urls import is_cluster, redis_client

pytestmark = pytest.mark.redis

QUEUE = "q"


def _message(index: int) -> Message:
    return Message(queue_name=QUEUE, actor_name="a", args=(index,), kwargs={}, options={})


def _messages_left(client: redis.Redis, namespace: str) -> list[str]:
    """Ids of the messages still stored (enqueued, or fetched and not acked)."""
    return [key.decode() for key in client.hkeys(f"{namespace}:{QUEUE}.msgs")]


def test_fetch_and_batched_acks_work_after_redis_lost_its_scripts(redis_url: str) -> None:
    client = redis_client(redis_url)
    namespace = "{t}" if is_cluster(redis_url) else "t"  # one hash slot on a cluster
    broker = DoorbellRedisBroker(client=client, namespace=namespace)
    broker.declare_queue(QUEUE)
    sent = broker.enqueue_many([_message(index) for index in range(5)])
    ids = [message.options["redis_message_id"] for message in sent]

    client.script_flush()  # as after a Redis restart
    (fetched,) = broker.call_scripts([broker.dispatch_call(QUEUE, "fetch", [3])])
    assert [Message.decode(data).args for data in fetched] == [(0,), (1,), (2,)]
    acks_key = f"{namespace}:__acks__.{broker.broker_id}.{QUEUE}"
    assert client.scard(acks_key) == 3

    # Both scripts are gone again: one pipelined round trip must reload both and still ack
    # the three fetched messages in one call, then fetch the other two.
    client.script_flush()
    acked, rest = broker.call_scripts(
        [broker.ack_call(QUEUE, ids[:3]), broker.dispatch_call(QUEUE, "fetch", [10])]
    )
    assert acked == 3
    assert [Message.decode(data).args for data in rest] == [(3,), (4,)]
    assert sorted(_messages_left(client, namespace)) == sorted(ids[3:])
    assert client.smembers(acks_key) == {i.encode() for i in ids[3:]}

    # An ack for a message this worker no longer holds (requeued meanwhile) deletes nothing.
    client.srem(acks_key, ids[3])
    assert broker.call_scripts([broker.ack_call(QUEUE, ids[3:])]) == [1]
    assert _messages_left(client, namespace) == [ids[3]]
    client.close()
