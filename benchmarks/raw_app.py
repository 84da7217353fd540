"""The baseline: raw Dramatiq actors on a plain ``RedisBroker`` with its default middleware.

Run by the ``dramatiq`` command in the baseline worker processes (``dramatiq
benchmarks.raw_app --processes N --threads M``) and imported by the benchmark driver to send
messages. The Redis URL comes from ``$FLOWGEN_BENCH_REDIS_URL``.

* ``bench.noop()`` does nothing but note, in process memory, how many messages it ran and when
  the first and last ran; a daemon thread copies those three numbers to Redis every few
  milliseconds, so the driver can tell when all messages are done without the actor making a
  Redis call of its own (which would no longer be a no-op).
* ``bench.ping(reply_key)`` pushes the time onto ``reply_key``: the raw Dramatiq round trip the
  latency figures are compared with.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

NAMESPACE = "dramatiq"
QUEUE = "bench"
STATS_PREFIX = "bench:raw:stats:"
FLUSH_INTERVAL = 0.01

URL = os.environ.get("FLOWGEN_BENCH_REDIS_URL")
if not URL:
    # Never fall back to a developer's Redis: the benchmark flushes its database.
    raise RuntimeError("benchmarks.raw_app needs $FLOWGEN_BENCH_REDIS_URL (python -m benchmarks sets it)")
broker = RedisBroker(url=URL, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
dramatiq.set_broker(broker)


class _Stats:
    """How many no-op messages this process ran, and when the first and the last one ran."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self._started = False
        self._lock = threading.Lock()

    def note(self) -> None:
        now = time.time()
        self.count = next(self.counter)
        if not self.first:
            self.first = now
        self.last = now
        if not self._started:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            threading.Thread(target=self._flush_forever, name="bench-stats", daemon=True).start()

    def _flush_forever(self) -> None:
        key = f"{STATS_PREFIX}{os.getpid()}"
        written = -1
        while True:
            count = self.count
            if count != written:
                broker.client.hset(
                    key, mapping={"count": count, "first": repr(self.first), "last": repr(self.last)}
                )
                written = count
            time.sleep(FLUSH_INTERVAL)


stats = _Stats()


@dramatiq.actor(actor_name="bench.noop", queue_name=QUEUE)
def noop() -> None:
    """Do nothing (but count)."""
    stats.note()


@dramatiq.actor(actor_name="bench.ping", queue_name=QUEUE)
def ping(reply_key: str) -> None:
    """Answer the driver: push the current time onto ``reply_key``."""
    broker.client.rpush(reply_key, repr(time.time()))


def enqueue_many(actor: dramatiq.Actor[..., Any], args: list[tuple[object, ...]], chunk: int = 1000) -> None:
    """Send one message per argument tuple, pipelined ``chunk`` at a time.

    Each message goes through the same ``dispatch`` script call as ``RedisBroker.enqueue``,
    queued on a pipeline: flowgen's ``start_many`` enqueues the same way, so both sides of the
    comparison pay the same to get their messages into Redis.
    """
    from dramatiq.common import current_millis

    for start in range(0, len(args), chunk):
        pipe = broker.client.pipeline(transaction=False)
        for call in args[start : start + chunk]:
            message = actor.message(*call)
            message = message.copy(options={"redis_message_id": message.message_id})
            broker.emit_before("enqueue", message, None)
            broker.scripts["dispatch"](
                keys=[broker.namespace],
                args=[
                    "enqueue",
                    current_millis(),
                    message.queue_name,
                    broker.broker_id,
                    broker.heartbeat_timeout,
                    broker.dead_message_ttl,
                    0,
                    broker._max_unpack_size(),  # type: ignore[no-untyped-call]
                    message.options["redis_message_id"],
                    message.encode(),
                ],
                client=pipe,
            )
        pipe.execute()
