"""The doorbell Redis broker: Dramatiq's RedisBroker with instant wake-up, batched acks and consumer presence.

Dramatiq's Redis consumer sleeps with exponential back-off up to the worker timeout when its
queue is empty (up to a second per hop). :class:`DoorbellRedisBroker` fixes that idle latency:
enqueueing rings a per-queue "doorbell", a wake-up list it tops up to one token per waiting
message (:data:`~.doorbell_scripts.RING`), and idle consumers block on that list, so a message is
fetched within a round trip of being enqueued, by the one consumer Redis hands its token to (a
pub/sub ring woke every process's consumer, and all but one fetched nothing). Processes of a
version that rang by pub/sub do not hear these rings, nor these consumers theirs: while versions
are mixed, those hops wait for the consumers' poll (the worker timeout, 1 s). It also keeps a worker's heartbeat
fresh while all its threads are busy, so a busy worker is never mistaken for a dead one, and
each consumer records its **presence** on its queue (``<namespace>:__consumers__.<queue>``, a
sorted set of broker ids by last fetch), so a client can tell a queue no live worker consumes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed, DecodeError
from dramatiq.message import Message
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from ..stores import redis_calls
from ..stores.redis_plans import Commands, Plan, RoundTrip, commands, first_error, run_plan
from .broker_slot import RELOCATED, SlotPipeline
from .doorbell_scripts import (
    ACK_MANY,
    HEAD_MESSAGE,
    MAX_TOKENS,
    PRESENCE,
    REQUEUE_DEAD,
    RETURN_MESSAGES,
    RING,
    SETTLE,
)
from .here import is_here, split_here

logger = logging.getLogger("flowgen.transports.doorbell")

HEARTBEAT_INTERVAL = 1.0
ACK_DELAY = 0.05
"""Longest an ack waits to travel with a fetch before it is sent on its own (seconds)."""
PRESENCE_INTERVAL = 1.0
"""How often a consumer renews its presence on its queue (seconds; it rides along with a fetch)."""


def doorbell_key(namespace: str, queue_name: str) -> str:
    """The wake-up list of ``queue_name``: idle consumers block on it, a ring pushes tokens (:data:`RING`)."""
    return f"{namespace}:doorbell:{queue_name}"


DEAD_WINDOW = 60_000
"""How long (ms) past its death a worker's acks are still looked at (they are requeued at the
first pass that sees it dead; Dramatiq's own maintenance forgets the worker later)."""


def _waited(data: bytes | None) -> float:
    """Seconds since the message ``data`` (an encoded Dramatiq message) was enqueued; 0 for none."""
    if not data:
        return 0.0
    try:
        enqueued = Message.decode(data).message_timestamp
    except DecodeError:
        return 0.0
    return max(0.0, current_millis() - enqueued) / 1000.0


def redis_backlog(broker: RedisBroker, queue_name: str) -> float:
    """:meth:`DoorbellRedisBroker.backlog` for any Dramatiq ``RedisBroker`` (an app's own).

    Dramatiq's Redis queues have the same layout whatever the broker class, so the head of the
    queue tells how long its oldest waiting message has waited.
    """
    script = broker.client.register_script(HEAD_MESSAGE)
    return _waited(script(keys=[f"{broker.namespace}:{queue_name}"]))


ScriptCall = tuple[Any, list[Any], Sequence[Any]]
"""A script call for :meth:`DoorbellRedisBroker.call_scripts`: ``(script, keys, args)``."""


class _DoorbellConsumer(_RedisConsumer):  # type: ignore[misc,unused-ignore]
    """A Redis consumer that fetches in batches, acks in batches, and waits on a doorbell when idle.

    Dramatiq's own Redis consumer costs a round trip per message twice over: it fetches
    whenever a single prefetch slot is free (so under load, one fetch per message) and each
    worker thread acks its message with its own call. This consumer refills only when the
    messages in hand fall to half the prefetch, and queues acks so that they travel with the
    next fetch (or after :data:`ACK_DELAY` at most) in one pipelined round trip, as one script
    call for all of them (see :meth:`DoorbellRedisBroker.ack_call`). When the
    queue is empty (a fetch got fewer than it asked for) it blocks on the doorbell channel
    until the next ring, with no empty fetch first; while it does, worker threads send their
    acks themselves, so an idle worker never sits on an unsent ack.

    Deferring an ack is safe for flowgen: a message whose ack is lost (the process died
    first) is redelivered, and every flowgen write is fenced, so the redelivery is a no-op.
    """

    def __init__(self, broker: DoorbellRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self.idle_timeout = max(timeout / 1000.0, 0.01)
        self.low_water = prefetch // 2
        self.slot_freed = threading.Event()
        self.last_heartbeat = 0.0
        self.last_presence = 0.0
        self.ack_lock = threading.Lock()
        self.pending_acks: list[str] = []
        self.oldest_ack = 0.0
        self.waiting_idle = False
        self.returned: list[str] = []
        """Fetched messages this worker will not start (no free thread), to put back."""
        self.holding = False
        """True after returning messages: fetch again only once a thread is free."""
        self.drained = False
        """True when the last fetch got fewer messages than it asked for: wait for a ring first."""
        self.doorbell = doorbell_key(broker.namespace, queue_name)
        broker.consumers.add(self)

    # -- acks ---------------------------------------------------------------------------------

    def ack(self, message: MessageProxy) -> None:
        with self.ack_lock:
            batch = []
            if not is_here(message):  # a message .here handed over was never in Redis
                if not self.pending_acks:
                    self.oldest_ack = time.monotonic()
                self.pending_acks.append(message.options["redis_message_id"])
                batch = self._take_acks() if self.waiting_idle else []
        try:
            if batch:
                self._send(batch, None)
        finally:
            self.queued_message_ids.discard(message.message_id)
            # Wake the consumer only when it has something to do: refill at the low-water
            # mark (it wakes on its own every ACK_DELAY to send queued acks).
            if self.outstanding_message_count <= self.low_water or self.holding:
                self.slot_freed.set()

    def nack(self, message: MessageProxy) -> None:
        try:
            if is_here(message):
                self.queued_message_ids.discard(message.message_id)
            else:
                super().nack(message)  # type: ignore[no-untyped-call]
        finally:
            self.slot_freed.set()

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        """Put back the messages left in the worker's queue at a stop; handed ones are sent anew."""
        fetched, here = split_here(messages)
        if here:
            self.broker.enqueue_many(here)
        super().requeue(fetched)  # type: ignore[no-untyped-call]
        if fetched:  # Dramatiq's requeue does not ring: wake the other workers' idle consumers
            self.broker.ring(self.queue_name)

    def _take_acks(self) -> list[str]:
        """Take the queued acks (call with ``ack_lock`` held)."""
        batch, self.pending_acks = self.pending_acks, []
        return batch

    def _send(self, acks: list[str], fetch: int | None) -> list[bytes]:
        """Send ``acks`` and (unless ``fetch`` is None) fetch up to ``fetch`` messages, in one round trip.

        On a connection error the acks are queued again, so a later round trip sends them.
        """
        broker = self.broker
        calls: list[ScriptCall] = []
        if acks:
            calls.append(broker.ack_call(self.queue_name, acks))
        renew_presence = fetch is not None and time.monotonic() - self.last_presence >= PRESENCE_INTERVAL
        if renew_presence:
            calls.append(broker.presence_call(self.queue_name))
        if fetch is not None:
            calls.append(broker.dispatch_call(self.queue_name, "fetch", [fetch]))
        if fetch:
            calls.append(broker.settle_call(self.queue_name))
        try:
            replies = broker.call_scripts(calls)
        except redis.ConnectionError as error:
            with self.ack_lock:
                self.pending_acks[:0] = acks
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]
        if renew_presence:
            self.last_presence = time.monotonic()
        if fetch is not None:
            self.last_heartbeat = time.monotonic()
            return list(replies[-2 if fetch else -1] or [])
        return []

    # -- fetching -----------------------------------------------------------------------------

    def __next__(self) -> MessageProxy | None:
        while True:
            if self.message_cache:
                data = self.message_cache.pop(0)
                if data is None:
                    continue
                try:
                    message = Message.decode(data)
                except DecodeError:
                    # Raising would restart the consumer and strand every message fetched
                    # with this one; skip it (it stays unacknowledged, visible in Redis).
                    logger.error("skipping an undecodable message on %r: %r", self.queue_name, data[:200])
                    continue
                if self._no_thread_for(message):
                    self.returned.append(message.options["redis_message_id"])
                    continue
                self.queued_message_ids.add(message.message_id)
                return MessageProxy(message)
            if self.returned:
                self._return_messages()
            outstanding = self.outstanding_message_count
            if self.holding and not self._thread_free():
                self.slot_freed.wait(min(self.idle_timeout, HEARTBEAT_INTERVAL, ACK_DELAY))
                self.slot_freed.clear()
                self._send_due_acks()
                return None
            self.holding = False
            if outstanding <= self.low_water:
                if self.drained:
                    # The last fetch emptied the queue: what comes next rings (no empty fetch).
                    self.drained = False
                    self._wait_for_doorbell()
                    return None
                self.slot_freed.clear()
                with self.ack_lock:
                    acks = self._take_acks()
                wanted = self.prefetch - outstanding
                fetched = self._send(acks, wanted)
                if fetched:
                    self.message_cache = fetched
                    self.drained = len(fetched) < wanted
                    continue
                self._wait_for_doorbell()
                return None
            # Enough messages in hand: wait for a thread to finish one. Queued acks go out
            # with the next fetch, or on their own once the oldest has waited ACK_DELAY; a
            # fetch of 0 messages keeps this worker's heartbeat fresh meanwhile.
            self.slot_freed.wait(min(self.idle_timeout, HEARTBEAT_INTERVAL, ACK_DELAY))
            self.slot_freed.clear()
            self._send_due_acks()
            return None

    def _send_due_acks(self) -> None:
        """Send the queued acks once the oldest has waited ACK_DELAY (and keep the heartbeat fresh)."""
        now = time.monotonic()
        with self.ack_lock:
            due = bool(self.pending_acks) and now - self.oldest_ack >= ACK_DELAY
            acks = self._take_acks() if due else []
        if acks or now - self.last_heartbeat >= HEARTBEAT_INTERVAL:
            self._send(acks, 0)

    # -- branch messages only where a thread is free ---------------------------------------------

    def _thread_free(self) -> bool:
        threads = self.broker.worker_threads
        return threads is None or self.broker.in_hand() < threads

    def _no_thread_for(self, message: Message[Any]) -> bool:
        """True for a branch message (a step that may run long) that no thread of this worker can start now.

        Holding it would leave it waiting behind this worker's busy threads while another worker
        idles; an advance message is short, and keeping it fetched ahead is what prefetch is for.
        """
        return message.actor_name in self.broker.branch_actors and not self._thread_free()

    def _return_messages(self) -> None:
        """Put the messages this worker will not start back at the head of the queue, and ring."""
        returned, self.returned = self.returned, []
        broker = self.broker
        try:
            broker.call_scripts([broker.return_call(self.queue_name, returned)], [self.queue_name])
        except redis.ConnectionError as error:
            # Still in this worker's acks set: requeued when it stops or is found dead.
            logger.warning("could not give back %d message(s): %s", len(returned), error)
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]
        self.holding = True

    def _wait_for_doorbell(self) -> None:
        """Block until a ring's token reaches this consumer (or the idle timeout, then it polls);
        threads ack directly meanwhile.

        The consumer blocks on the queue's wake-up list (``BLPOP``): Redis gives each token to
        one blocked consumer, so a message wakes one process, not all of them. A ring leaves at
        least one token per waiting message (:data:`RING`), so a consumer that starts waiting
        while messages wait returns at once; a fetch that empties the queue clears the stale
        tokens (:data:`SETTLE`).
        """
        with self.ack_lock:
            self.waiting_idle = True
            acks = self._take_acks()
        try:
            if acks:
                self._send(acks, None)
            self.broker.client.blpop([self.doorbell], timeout=self.idle_timeout)
        except redis.TimeoutError:
            # The client's socket_timeout (a URL's ?socket_timeout=) ended the wait before the
            # idle timeout: the same as a timeout, the consumer polls (redis-py dropped the socket).
            pass
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]
        finally:
            with self.ack_lock:
                self.waiting_idle = False

    def close(self) -> None:
        self.broker.consumers.discard(self)
        with self.ack_lock:
            acks = self._take_acks()
        if acks:
            try:
                self._send(acks, None)
            except ConnectionClosed:
                logger.warning(
                    "could not ack %d message(s) on shutdown; they will be redelivered (a no-op)", len(acks)
                )
        with contextlib.suppress(redis.RedisError):
            self.broker.leave(self.queue_name)


class DoorbellRedisBroker(SlotPipeline, RedisBroker):  # type: ignore[misc,unused-ignore]
    """Dramatiq's RedisBroker with instant wake-up of idle consumers (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("middleware", [])
        kwargs.setdefault("namespace", "flowgen-dramatiq")
        # Dead workers' unacked messages come back within seconds rather than minutes; flowgen's
        # reconciler does not depend on it, but it stops stale duplicates from piling up.
        kwargs.setdefault("heartbeat_timeout", 15000)
        kwargs.setdefault("maintenance_chance", 20000)
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._cluster = isinstance(self.client, RedisCluster)
        self._head_message = self.client.register_script(HEAD_MESSAGE)
        self._ack_many = self.client.register_script(ACK_MANY)
        self._presence = self.client.register_script(PRESENCE)
        self._requeue_dead = self.client.register_script(REQUEUE_DEAD)
        self._return = self.client.register_script(RETURN_MESSAGES)
        self._ring = self.client.register_script(RING)
        self._settle = self.client.register_script(SETTLE)
        self._held = redis_calls.HeldConnections(self.client, retry=redis_calls.reconnecting_retry)
        self.worker_threads: int | None = None
        """Threads of this process's worker (set by the transport); ``None``: hold every message."""
        self.branch_actors: frozenset[str] = frozenset()
        """Actors whose messages are only taken when a thread is free for them (the branch actor)."""
        self.consumers: weakref.WeakSet[_DoorbellConsumer] = weakref.WeakSet()

    def in_hand(self) -> int:
        """Messages this process's consumers handed to its worker threads and that are not done yet."""
        return sum(len(consumer.queued_message_ids) for consumer in list(self.consumers))

    def close(self) -> None:
        """Disconnect the threads' held script connections, then close as Dramatiq does."""
        self._held.close()
        super().close()

    @property
    def consumer_class(self) -> type:
        return _DoorbellConsumer

    def enqueue(self, message: Message[Any], *, delay: int | None = None, ring: bool = True) -> Message[Any]:
        if delay is not None:
            raise ValueError("flowgen never delays Dramatiq messages: timers are flowgen's own")
        enqueued = super().enqueue(message)
        if ring:
            self.ring(message.queue_name)
        return enqueued

    def ring(self, queue_name: str) -> None:
        """Wake as many idle consumers of ``queue_name`` as messages wait in it (one each)."""
        self.call_scripts([], [queue_name])

    def ring_call(self, queue_name: str) -> ScriptCall:
        """Ring ``queue_name``'s doorbell (:data:`RING`), for :meth:`call_scripts`."""
        keys = [f"{self.namespace}:{queue_name}", doorbell_key(self.namespace, queue_name)]
        return (self._ring, keys, [MAX_TOKENS])

    def settle_call(self, queue_name: str) -> ScriptCall:
        """After a fetch: forget the doorbell's tokens once the queue is empty (:data:`SETTLE`)."""
        return (
            self._settle,
            [f"{self.namespace}:{queue_name}", doorbell_key(self.namespace, queue_name)],
            [],
        )

    def backlog(self, queue_name: str) -> float:
        """Seconds the oldest message still waiting in ``queue_name`` has waited (0 when empty).

        Every message enqueued before that one has been fetched, so this is how far behind
        the queue's consumers are.
        """
        return _waited(self._head_message(keys=[f"{self.namespace}:{queue_name}"]))

    def presence_key(self, queue_name: str) -> str:
        """The sorted set of the broker ids consuming ``queue_name``, by when each last fetched (ms)."""
        return f"{self.namespace}:__consumers__.{queue_name}"

    def presence_call(self, queue_name: str) -> ScriptCall:
        """Record this broker (one worker process) as consuming ``queue_name`` now, for :meth:`call_scripts`."""
        now = current_millis()
        return (
            self._presence,
            [self.presence_key(queue_name)],
            [self.broker_id, now, now - self.heartbeat_timeout],
        )

    def live_consumers(self, queue_name: str) -> int:
        """How many worker processes fetched from ``queue_name`` within the heartbeat timeout."""
        since = current_millis() - self.heartbeat_timeout
        return int(self.client.zcount(self.presence_key(queue_name), since, "+inf"))

    def requeue_dead(self, queue_names: Iterable[str], dead_after: float) -> dict[str, int]:
        """Put back at the head of their queues the messages dead workers had fetched; return counts.

        A worker whose heartbeat (renewed at least every :data:`HEARTBEAT_INTERVAL` while it
        runs, busy or idle) is older than ``dead_after`` seconds is dead: the messages it
        fetched and never acked (prefetched, or being processed when it died) go back to the
        head of ``queue_names``, so their runs move again within seconds instead of waiting
        for their ``grace`` or Dramatiq's random maintenance. A worker that was only frozen
        and processes them after all does so under fenced writes (a no-op). Queues not in
        ``queue_names`` are left to Dramatiq's maintenance.
        """
        names = sorted(set(queue_names))
        if not names:
            return {}
        until = current_millis() - int(dead_after * 1000)
        reply = self._requeue_dead(
            keys=[f"{self.namespace}:__heartbeats__"],
            args=[self.namespace, until - DEAD_WINDOW, until, *names],
        )
        moved = {
            (name.decode() if isinstance(name, bytes) else str(name)): int(count)
            for name, count in zip(reply[::2], reply[1::2], strict=True)
        }
        for name in moved:
            self.ring(name)
        return moved

    def leave(self, queue_name: str) -> None:
        """Forget this broker's presence on ``queue_name`` (its consumer stops)."""
        self.client.zrem(self.presence_key(queue_name), self.broker_id)

    def dispatch_call(self, queue_name: str, command: str, args: Sequence[Any]) -> ScriptCall:
        """One call of Dramatiq's ``dispatch`` script, laid out as ``RedisBroker``'s own calls are
        (see the top of Dramatiq's ``dispatch.lua``), for :meth:`call_scripts`."""
        return (
            self.scripts["dispatch"],
            [self.namespace],
            [
                command,
                current_millis(),
                queue_name,
                self.broker_id,
                self.heartbeat_timeout,
                self.dead_message_ttl,
                self._should_do_maintenance(command),
                self._max_unpack_size(),  # type: ignore[no-untyped-call]
                *args,
            ],
        )

    def ack_call(self, queue_name: str, message_ids: Sequence[str]) -> ScriptCall:
        """Ack messages this worker fetched from ``queue_name``, all in one script call.

        Dramatiq's ``dispatch`` script acks one message per call, and each call also does the
        heartbeat and maintenance bookkeeping: per message, that was most of an ack's cost.
        """
        keys = [
            f"{self.namespace}:__acks__.{self.broker_id}.{queue_name}",
            f"{self.namespace}:{queue_name}.msgs",
        ]
        return (self._ack_many, keys, message_ids)

    def return_call(self, queue_name: str, message_ids: Sequence[str]) -> ScriptCall:
        """Give back messages this worker fetched from ``queue_name``, to the head of the queue in order."""
        keys = [
            f"{self.namespace}:__acks__.{self.broker_id}.{queue_name}",
            f"{self.namespace}:{queue_name}",
        ]
        return (self._return, keys, message_ids)

    def call_scripts(self, calls: Sequence[ScriptCall], ring: Iterable[str] = ()) -> list[Any]:
        """Run script calls ``(script, keys, args)`` (and doorbell rings) in one round trip.

        Scripts are called by their SHA on a plain pipeline; redis-py's script objects would
        add a ``SCRIPT EXISTS`` round trip to every pipeline. If Redis lost its script cache (a
        restart, ``SCRIPT FLUSH``), the refused scripts are loaded and their calls sent again.

        Returns each call's reply, in order.
        """
        replies: list[Any] = run_plan(self.scripts_plan(calls, ring), self.round_trip)
        return replies

    def round_trip(self, trip: RoundTrip) -> list[Any]:
        """Do one round trip of a plan (sync): on this thread's held connection, or on a cluster
        a pipeline to the node serving the broker's slot (:mod:`.broker_slot`).

        On a single Redis it is packed with hiredis and read by the store's own reply loop: the
        consumer makes this call for every fetch, and redis-py's pipeline (pool checkout,
        per-command packing, response callbacks) cost a third of its CPU. Error replies come
        back in place, as exceptions.
        """
        assert isinstance(trip, Commands), "the broker's plans send plain commands only"
        if self._cluster:
            replies = self._slot_round_trip(trip.commands)
        else:
            conn = self._held.get()
            packed = b"".join(redis_calls.pack(*command) for command in trip.commands)
            replies = conn.retry.call_with_retry(
                lambda: redis_calls.replies(conn, packed, len(trip.commands)), lambda _error: conn.disconnect()
            )
        if trip.raise_on_error:
            first_error(replies)
        return replies

    def scripts_plan(self, calls: Sequence[ScriptCall], ring: Iterable[str] = ()) -> Plan[list[Any]]:
        """:meth:`call_scripts` as a plan (:mod:`flowgen.stores.redis_plans`), for sync and async clients."""

        def pipeline(items: Sequence[ScriptCall]) -> Commands:
            sent = [("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in items]
            return Commands(tuple(sent), raise_on_error=False)

        asked = len(calls)
        calls = [*calls, *(self.ring_call(queue_name) for queue_name in ring)]  # rung after the calls
        replies = list((yield pipeline(calls)))
        moved = [i for i, r in enumerate(replies) if isinstance(r, RELOCATED)] if self._cluster else []
        if moved:  # a cluster failover or resharding moved the namespace's slot: ask again, resend those
            self._refresh_slots()
            again = yield pipeline([calls[i] for i in moved])
            for index, reply in zip(moved, again, strict=True):
                replies[index] = reply
        refused = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if refused:
            scripts = list({id(calls[i][0]): calls[i][0] for i in refused}.values())
            shas = yield from commands(*(("SCRIPT", "LOAD", script.script) for script in scripts))
            for script, sha in zip(scripts, shas, strict=True):
                script.sha = sha.decode() if isinstance(sha, bytes) else str(sha)
            again = yield pipeline([calls[i] for i in refused])
            for index, reply in zip(refused, again, strict=True):
                replies[index] = reply
        first_error(replies)
        return replies[:asked]

    def enqueue_many(self, messages: Sequence[Message[Any]]) -> list[Message[Any]]:
        """Enqueue messages and ring their doorbells in one pipelined round trip.

        Each message goes through the same ``dispatch`` script call as ``RedisBroker.enqueue``.
        """
        sent: list[Message[Any]] = run_plan(self.enqueue_plan(messages), self.round_trip)
        return sent

    def prepared(self, original: Message[Any]) -> Message[Any]:
        """``original`` as it is enqueued: with its own Redis message id, after the middleware's
        ``before_enqueue`` (as ``RedisBroker.enqueue`` does); ``emit_after("enqueue", ...)`` once it is in Redis."""
        message = original.copy(options={"redis_message_id": str(uuid.uuid4())})
        self.emit_before("enqueue", message, None)
        return message

    def enqueue_plan(self, messages: Sequence[Message[Any]]) -> Plan[list[Message[Any]]]:
        """:meth:`enqueue_many` as a plan (:mod:`flowgen.stores.redis_plans`), for sync and async clients."""
        if not messages:
            return []
        sent = []
        by_queue: dict[str, list[tuple[str, list[Any]]]] = {}
        for original in messages:
            message = self.prepared(original)
            by_queue.setdefault(message.queue_name, []).append(
                ("enqueue", [message.options["redis_message_id"], message.encode()])
            )
            sent.append(message)
        queues = sorted(by_queue)
        calls = [
            self.dispatch_call(queue_name, command, args)
            for queue_name in queues
            for command, args in by_queue[queue_name]
        ]
        # The doorbells ring after every message is in its queue.
        yield from self.scripts_plan(calls, queues)
        for message in sent:
            self.emit_after("enqueue", message, None)
        return sent
