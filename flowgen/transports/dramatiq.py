"""The Dramatiq transport: flowgen's two actors on a Dramatiq broker (Redis in production).

Two actors carry ids only:

* the **advance actor**, ``flowgen.advance(run_id)``: advance a run (inline steps run inside it);
* the **branch actor**, ``flowgen.run_branch(run_id, key, attempt)``: run one attempt of a step
  branch, a step sent as its own message (inside ``all_of``/``any_of``, or declared with ``queue=``).
  Earlier versions named it ``flowgen.step``; that name stays registered as an alias, so
  messages queued by an older version still run.

Both run with Dramatiq's retries, age limit and time limit off through their actor options
(:data:`ACTOR_OPTIONS`), so they behave the same on flowgen's own broker (which has no
middleware) and on an app's broker with Dramatiq's default middleware: flowgen owns retries,
timers, time limits and recovery. Dramatiq is an at-least-once transport here; every flowgen
write is fenced, so a duplicate message is a no-op. This package's :mod:`.doorbell` broker is
what makes it fast on Redis; any other broker (an app's ``RedisBroker``, ``RabbitmqBroker``,
``StubBroker``) works too, one round trip per message.

Queues: the advance actor's queue is the transport's own (``flowgen`` by default); a branch of
a step declared with ``queue="x"`` is sent on ``x``. A worker consumes the queues it is given,
declared when it starts (``flowgen worker --queues x``), or by default its own queue and the
queue of every step its modules declare. A branch sent to a queue no live worker consumes is
logged as a warning, and :meth:`DramatiqTransport.unconsumed` lets ``RunInfo`` say so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.message import Message

from ..stores.redis_plans import Plan, commands, run_plan
from .base import Receiver, Stop
from .doorbell import HEARTBEAT_INTERVAL, PRESENCE_INTERVAL, DoorbellRedisBroker, redis_backlog
from .here import hand_here

logger = logging.getLogger("flowgen.transports.dramatiq")

DEFAULT_QUEUE = "flowgen"
ADVANCE_ACTOR = "flowgen.advance"
BRANCH_ACTOR = "flowgen.run_branch"
BRANCH_ACTOR_ALIASES = ("flowgen.step",)
"""Former names of the branch actor, still registered so messages queued under them run."""


def _never_retry(_retries: int, _exception: BaseException) -> bool:
    """``retry_when`` of flowgen's actors: never (it wins over an app's global ``retry_when``)."""
    return False


ACTOR_OPTIONS: dict[str, Any] = {
    "max_retries": 0,
    "retry_when": _never_retry,
    "time_limit": float("inf"),
    "max_age": None,
    "notify_shutdown": False,
    "store_results": False,
}
"""The options of flowgen's actors, each opting out of a Dramatiq middleware that fights flowgen.

* ``max_retries=0`` and ``retry_when`` (``Retries``): a failed flowgen message is not retried
  by Dramatiq, whatever the app's default; flowgen retries steps itself (``Retry``) and its
  reconciler re-enqueues runs whose message was lost.
* ``time_limit=inf`` (``TimeLimit``, 10 minutes by default): an advance runs steps inline for as
  long as they take; interrupting it would look like a crash. Steps have flowgen's own
  ``timeout=``. (``None`` is not "no limit" to ``TimeLimit``: it would fail every message.)
* ``max_age=None`` (``AgeLimit``): a message that waited in a long queue still moves its run;
  dropping it would leave the run to the reconciler.
* ``notify_shutdown=False`` (``ShutdownNotifications``): a graceful stop lets the current step
  finish (flowgen's drain) instead of raising ``Shutdown`` inside it.
* ``store_results=False`` (``Results``): the actors return nothing; results are in the store.

Middleware that only observes (Prometheus, error reporting, ``CurrentMessage``, an app's own)
sees flowgen's messages like any other.
"""
DEAD_AFTER_MINIMUM = 3 * HEARTBEAT_INTERVAL
"""The shortest silence (seconds) after which a worker counts as dead: three missed heartbeats."""
UNCONSUMED_WARNING_INTERVAL = 60.0
"""Seconds between two warnings about the same queue having no live consumer."""


class DramatiqTransport:
    """Sends flowgen's messages through a Dramatiq broker and runs its actors in Dramatiq workers.

    Args:
        broker: the broker: a :class:`~.doorbell.DoorbellRedisBroker` (``flowgen worker``), or an
            app's own broker (``Engine(url, broker=...)``, see :mod:`.app_broker`).
        queue: the Dramatiq queue of the advance actor (and of branches with no ``queue=``).
    """

    def __init__(self, broker: dramatiq.Broker, queue: str = DEFAULT_QUEUE) -> None:
        self.broker = broker
        self.queue = queue
        self.prefetch: int | None = None
        """Messages a worker fetches ahead of its threads; ``None`` keeps Dramatiq's default."""
        self.receiver: Receiver | None = None

        def actor(fn: Any, name: str) -> dramatiq.Actor[Any, Any]:
            return dramatiq.Actor(
                fn, broker=broker, actor_name=name, queue_name=queue, priority=0, options=dict(ACTOR_OPTIONS)
            )

        self.advance_actor = actor(self._advance, ADVANCE_ACTOR)
        self.branch_actor = actor(self._run_branch, BRANCH_ACTOR)
        self.branch_aliases = [actor(self._run_branch, name) for name in BRANCH_ACTOR_ALIASES]
        self._here: dramatiq.Worker | None = None
        """This process's running worker, when it consumes the advance queue on flowgen's broker."""
        self._consumers_seen: dict[str, tuple[float, bool]] = {}
        self._warned: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- receiving ----------------------------------------------------------------------------

    def bind(self, receiver: Receiver) -> None:
        """Route received messages to ``receiver`` (a :class:`flowgen.runtime.Runtime`)."""
        self.receiver = receiver

    def _receiver(self) -> Receiver:
        if self.receiver is None:
            raise RuntimeError("DramatiqTransport.bind() was not called before messages arrived")
        return self.receiver

    def _advance(self, run_id: str) -> None:
        self._receiver().advance(run_id)

    def _run_branch(self, run_id: str, key: str, attempt: int) -> None:
        self._receiver().run_branch(run_id, key, attempt)

    def consume(
        self, threads: int, queues: Sequence[str] | None = None, declare: Collection[str] = ()
    ) -> Stop:
        """Start a Dramatiq worker for flowgen's actors in this process; return its ``stop``."""
        worker = self.make_worker(threads, queues, declare=declare)
        worker.start()
        if isinstance(self.broker, DoorbellRedisBroker) and (not queues or self.queue in queues):
            self._here = worker

        def stop() -> None:
            self._here = None
            worker.stop()

        return stop

    def make_worker(
        self,
        threads: int,
        queues: Iterable[str] | None = None,
        timeout_ms: int = 1000,
        declare: Collection[str] = (),
    ) -> dramatiq.Worker:
        """Build (not start) a Dramatiq worker for flowgen's actors.

        Every queue it is to consume is declared first: Dramatiq only consumes declared queues,
        and a process declares a step's queue otherwise only when it sends a branch there, so a
        worker dedicated to ``queue="x"`` steps would never consume ``x``.
        """
        wanted = sorted(set(queues)) if queues else None
        for name in wanted if wanted is not None else sorted(set(declare)):
            self.broker.declare_queue(name)
        worker = dramatiq.Worker(
            self.broker,
            queues=set(wanted) if wanted else None,
            worker_threads=threads,
            worker_timeout=timeout_ms,
        )
        if self.prefetch is not None:
            worker.queue_prefetch = max(1, self.prefetch)
        if isinstance(self.broker, DoorbellRedisBroker):
            # A branch message is taken only by a worker with a thread free for it.
            self.broker.worker_threads = threads
            self.broker.branch_actors = frozenset((BRANCH_ACTOR, *BRANCH_ACTOR_ALIASES))
        return worker

    # -- sending ------------------------------------------------------------------------------

    def _send(self, messages: Iterable[Message[Any]]) -> None:
        if isinstance(self.broker, DoorbellRedisBroker):
            self.broker.enqueue_many(list(messages))
            return
        for message in messages:
            self.broker.enqueue(message)

    def enqueue(self, run_ids: Sequence[str]) -> None:
        """Send one advance message per run id."""
        self._send(self.advance_actor.message(run_id) for run_id in run_ids)

    def enqueue_here(self, run_ids: Sequence[str]) -> None:
        """Advance runs on this process's free worker threads (:mod:`.here`); send the rest as :meth:`enqueue` does.

        For runs whose time came in this process (due timers, precise wake-ups): no round trip
        through Redis when a thread is free to take them.
        """
        messages = [self.advance_actor.message(run_id) for run_id in run_ids]
        broker = self.broker
        if isinstance(broker, DoorbellRedisBroker):
            messages = hand_here(self._here, self.queue, broker.worker_threads, broker.in_hand, messages)
        if messages:
            self._send(messages)

    def enqueue_branch(self, run_id: str, key: str, attempt: int, queue: str | None) -> None:
        """Send a branch message for one attempt of a step branch, on the step's queue."""
        message = self.branch_actor.message(run_id, key, attempt)
        if queue and queue != self.queue:
            self.broker.declare_queue(queue)
            message = message.copy(queue_name=queue)
            self._warn_if_unconsumed(queue, run_id)
        self._send([message])

    def backlog(self) -> float:
        """Seconds the oldest waiting advance message has waited (0 when the broker cannot tell).

        Redis brokers tell (flowgen's own and an app's ``RedisBroker``); others (RabbitMQ,
        ``StubBroker``) do not, so there a run is re-enqueued once it has waited ``grace``.
        """
        if isinstance(self.broker, DoorbellRedisBroker):
            return self.broker.backlog(self.queue)
        if isinstance(self.broker, RedisBroker):
            return redis_backlog(self.broker, self.queue)
        return 0.0

    def requeue_lost(self, dead_after: float) -> int:
        """Requeue the messages of dead workers (no heartbeat for ``dead_after`` s); return how many.

        Only flowgen's own broker keeps a busy worker's heartbeat fresh, so only there can a
        silent heartbeat be read as a dead worker (see :meth:`.DoorbellRedisBroker.requeue_dead`);
        on other brokers this does nothing and lost messages wait for their ``grace``.
        """
        if not isinstance(self.broker, DoorbellRedisBroker):
            return 0
        queues = {self.queue, *self.broker.get_declared_queues()}
        moved = self.broker.requeue_dead(queues, max(dead_after, DEAD_AFTER_MINIMUM))
        if moved:
            logger.info("requeued %s message(s) a dead worker had fetched", moved)
        return sum(moved.values())

    # -- consumers ----------------------------------------------------------------------------

    def unconsumed(self, queues: Collection[str]) -> list[str]:
        """The queues among ``queues`` no live worker consumes (``[]`` unless the broker records consumers).

        A worker's consumer records its presence on its queue every second it is alive (see
        :mod:`.doorbell`); answers are reused for a second.
        """
        if not isinstance(self.broker, DoorbellRedisBroker):
            return []
        found: list[str] = run_plan(self.unconsumed_plan(queues), self.broker.round_trip)
        return found

    def unconsumed_plan(self, queues: Collection[str]) -> Plan[list[str]]:
        """:meth:`unconsumed` as a plan (:mod:`flowgen.stores.redis_plans`), for sync and async clients."""
        if not isinstance(self.broker, DoorbellRedisBroker):
            return []
        wanted = sorted(set(queues))
        now = time.monotonic()
        with self._lock:
            known = {
                queue: seen[1]
                for queue in wanted
                if (seen := self._consumers_seen.get(queue)) is not None and now - seen[0] < PRESENCE_INTERVAL
            }
        unknown = [queue for queue in wanted if queue not in known]
        since = current_millis() - self.broker.heartbeat_timeout
        counts = yield from commands(
            *(("ZCOUNT", self.broker.presence_key(queue), since, "+inf") for queue in unknown)
        )
        with self._lock:
            for queue, count in zip(unknown, counts, strict=True):
                known[queue] = int(count) > 0
                self._consumers_seen[queue] = (now, known[queue])
        return [queue for queue in wanted if not known[queue]]

    def _warn_if_unconsumed(self, queue: str, run_id: str) -> None:
        """Log (at most once a minute per queue) that a branch went to a queue nobody consumes."""
        if not self.unconsumed([queue]):
            return
        now = time.monotonic()
        with self._lock:
            if now - self._warned.get(queue, -UNCONSUMED_WARNING_INTERVAL) < UNCONSUMED_WARNING_INTERVAL:
                return
            self._warned[queue] = now
        logger.warning(
            "run %s: a step branch was sent to queue %r, which no live worker consumes; it waits until "
            "one does (start `flowgen worker MODULE --queues %s`)",
            run_id,
            queue,
            queue,
        )


def redis_transport(
    client: redis.Redis, queue: str = DEFAULT_QUEUE, namespace: str = "flowgen-dramatiq"
) -> DramatiqTransport:
    """Build the Dramatiq transport on a Redis client (shared with the store)."""
    return DramatiqTransport(DoorbellRedisBroker(client=client, namespace=namespace), queue)
