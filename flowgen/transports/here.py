"""Advance messages handed straight to this process's own worker threads, not sent through Redis.

When a timer falls due in a worker process (its poller claimed it, usually at the precise
due time because this process parked the run on it), sending the run's advance message through
Redis costs a round trip to enqueue, a doorbell ring, a consumer waking and a fetch round trip,
each a hop that waits for a CPU on a loaded machine: most of a short timer's lateness
(docs/performance.md, issue 22). If one of this process's worker threads is free, the run
needs none of that: :func:`hand_here` gives its message to the worker's threads directly, as
the consumer would after fetching it (and the run's generator is usually in this process's
cache, since this process parked it). Runs beyond the free threads are sent as usual.

A message handed here exists only in this process's memory, marked with the :data:`HERE`
option. The consumer knows it: its ack and nack touch nothing in Redis, and a graceful stop
that finds it still waiting for a thread sends it through Redis instead
(:func:`split_here`). If the process dies before a thread took it, the run is where a
claimed timer whose enqueue was lost is: in the ready index, enqueued again by the
reconciler after its grace. The window is the same one as before (claim to the run's lease,
about a millisecond on a free thread), only without the enqueue and the fetch in it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.message import Message

HERE = "flowgen_here"
"""The option that marks a message handed to this process's threads (never stored in Redis)."""

_lock = threading.Lock()
"""Serializes hand-offs, so two threads handing at once never count the same free thread twice."""


def hand_here(
    worker: dramatiq.Worker | None,
    queue_name: str,
    threads: int | None,
    in_hand: Any,
    messages: Sequence[Message[Any]],
) -> list[Message[Any]]:
    """Give as many of ``messages`` as this process has free worker threads to them; return the rest.

    ``worker`` is this process's running Dramatiq worker (``None``: hand nothing), consuming
    ``queue_name`` with ``threads`` threads; ``in_hand()`` counts the messages its consumers
    handed to threads and that are not done. A message is handed only while the queue's
    consumer runs, so its ack finds the consumer that counts it.
    """
    if worker is None or threads is None or not messages:
        return list(messages)
    consumer_thread = worker.consumers.get(queue_name)
    consumer = getattr(consumer_thread, "consumer", None)
    if consumer_thread is None or consumer is None or not consumer_thread.running:
        return list(messages)
    with _lock:
        free = max(0, threads - int(in_hand()))
        taken, rest = messages[:free], messages[free:]
        for message in taken:
            local = message.copy(options={**message.options, HERE: True, "redis_message_id": ""})
            consumer.queued_message_ids.add(local.message_id)
            consumer_thread.handle_message(MessageProxy(local))
    return list(rest)


def is_here(message: Any) -> bool:
    """True for a message :func:`hand_here` handed over (it is not in Redis)."""
    return bool(message.options.get(HERE))


def split_here(messages: Iterable[Any]) -> tuple[list[Any], list[Message[Any]]]:
    """``(fetched, here)``: the messages that came from Redis, and the handed ones as plain messages
    again (without :data:`HERE`), for sending through Redis."""
    fetched: list[Any] = []
    here: list[Message[Any]] = []
    for message in messages:
        if is_here(message):
            options = {k: v for k, v in message.options.items() if k not in (HERE, "redis_message_id")}
            here.append(
                Message(message.queue_name, message.actor_name, message.args, message.kwargs, options)
            )
        else:
            fetched.append(message)
    return fetched, here
