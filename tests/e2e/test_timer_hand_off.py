"""A run whose timer falls due in a worker process goes to a free thread of that process, not through Redis.

The process that parked a run on a short timer fires it at its due time; with a worker thread
free, the run's advance message is handed to that thread (``flowgen.transports.here``): no
enqueue, no doorbell ring, no fetch. Without a free thread the message goes through Redis as
before. A handed message is in no Redis structure, so its ack sends nothing, and a stop that
finds it still queued in memory sends it through Redis (it is not lost with the process).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from dramatiq.broker import MessageProxy
from dramatiq.message import Message

import flowgen
from flowgen.transports.doorbell import DoorbellRedisBroker
from flowgen.transports.dramatiq import ADVANCE_ACTOR, DramatiqTransport
from flowgen.transports.here import HERE
from tests.conftest import wait_until

pytestmark = pytest.mark.redis

NAMESPACE = "flowgen-dramatiq"
GATE = threading.Event()
ENTERED = threading.Event()


@flowgen.workflow(name="handoff.nap")
def nap(seconds: float) -> Any:
    yield flowgen.sleep(seconds)
    woke = yield flowgen.now()
    return woke.timestamp()


@flowgen.step(retries=0)
def held() -> str:
    """Occupies its worker thread until the test opens the gate."""
    ENTERED.set()
    if not GATE.wait(60):
        raise TimeoutError("the test never opened the gate")
    return "released"


@flowgen.workflow(name="handoff.holder")
def holder() -> Any:
    return (yield held())


class Rings:
    """Counts the messages enqueued on the advance queue through Redis (each rings its doorbell):
    the queue's ``rpush`` keyspace notifications."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.events = self.client.config_get("notify-keyspace-events")["notify-keyspace-events"]
        self.client.config_set("notify-keyspace-events", "Kl")
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(f"__keyspace@0__:{NAMESPACE}:flowgen")
        self.count = 0

    def read(self) -> int:
        while (event := self.pubsub.get_message(timeout=0.05)) is not None:
            self.count += event["data"] == b"rpush"
        return self.count

    def close(self) -> None:
        self.pubsub.close()
        self.client.config_set("notify-keyspace-events", self.events)
        self.client.close()


@pytest.fixture
def rings(single_redis_url: str) -> Iterator[Rings]:
    counter = Rings(single_redis_url)
    counter.read()
    yield counter
    counter.close()


def test_a_short_timer_is_fired_into_a_free_thread_with_no_message_through_redis(
    single_redis_url: str, rings: Rings
) -> None:
    # The poller looks every 30 s: only the precise alarm of the parking process can fire it.
    with flowgen.Engine(single_redis_url, timer_interval=30) as engine, engine.worker(threads=2):
        run = engine.start(nap, 0.05)
        woke = run.result(timeout=20)
        due = float(engine.journal(run.run_id)[0]["info"]["due"])
        client = redis.Redis.from_url(single_redis_url)
        assert client.hlen(f"{NAMESPACE}:flowgen.msgs") == 0  # nothing left behind, nothing unacked
        client.close()
    assert 0 <= woke - due < 5, f"woke {woke - due:.3f}s after its due time"
    assert rings.read() == 1, "only the start went through Redis; the timer's wake-up did not"


def test_without_a_free_thread_the_woken_run_goes_through_redis(single_redis_url: str, rings: Rings) -> None:
    GATE.clear()
    ENTERED.clear()
    with flowgen.Engine(single_redis_url, timer_interval=30) as engine, engine.worker(threads=1):
        transport = engine.transport
        assert isinstance(transport, DramatiqTransport)
        blocker = engine.start(holder)
        wait_until(ENTERED.is_set, 20, "the only thread to be held")
        napper = engine.start(nap, 0.0, run_id="napper")  # its message waits for the thread
        wait_until(lambda: rings.read() >= 2, 20, "the two starts' rings")
        transport.enqueue_here(["napper"])  # no thread free: through Redis
        wait_until(lambda: rings.read() >= 3, 20, "the ring of the message sent through Redis")
        assert rings.read() == 3
        GATE.set()
        assert blocker.result(timeout=20) == "released"
        napper.result(timeout=20)
        broker = transport.broker
        assert isinstance(broker, DoorbellRedisBroker)
        wait_until(lambda: broker.in_hand() == 0, 20, "the thread to be free")
        again = engine.start(nap, 0.0, run_id="again")
        again.result(timeout=20)
        before = rings.read()
        transport.enqueue_here(["again"])  # a thread is free: handed to it, nothing through Redis
        wait_until(lambda: broker.in_hand() == 0, 20, "the handed message to be done")
        assert rings.read() == before


def _here_message(run_id: str) -> MessageProxy:
    """An advance message as :func:`flowgen.transports.here.hand_here` hands it over."""
    options = {HERE: True, "redis_message_id": ""}
    return MessageProxy(Message("flowgen", ADVANCE_ACTOR, (run_id,), {}, options))


def test_a_handed_message_acks_nothing_and_a_stop_sends_it_through_redis(single_redis_url: str) -> None:
    client = redis.Redis.from_url(single_redis_url)
    broker = DoorbellRedisBroker(client=client, namespace="handoff")
    broker.declare_queue("flowgen")
    consumer = broker.consume("flowgen", prefetch=4, timeout=100)
    try:
        acked = _here_message("run-a")
        consumer.queued_message_ids.add(acked.message_id)
        consumer.ack(acked)
        assert consumer.pending_acks == []
        assert broker.in_hand() == 0

        consumer.requeue([_here_message("run-b")])
        (data,) = broker.call_scripts([broker.dispatch_call("flowgen", "fetch", [4])])[0]
        sent = Message.decode(data)
        assert (sent.actor_name, sent.args) == (ADVANCE_ACTOR, ("run-b",))
        assert HERE not in sent.options
    finally:
        consumer.close()
        broker.close()
        client.close()
