"""A client's start in one round trip on Redis: create the runs and enqueue their first advance messages in one script call.

Starting a run used to cost two round trips: the store's ``create`` script, then the doorbell
broker's enqueue with its ring, sent only once the create's reply said the run is new (a start
of an existing run id must not enqueue a duplicate). When the store and flowgen's own Dramatiq
broker share one Redis server (not a cluster), the client builds the runs' messages first and
``create`` itself pushes the message of each run it creates and rings the doorbell
(``stores/lua/create.lua``): half the round trips, and the worker's fetch no longer waits
behind the client's second call. Everywhere else (a cluster, where a run's queue and its record
live in different slots; an app's broker; the embedded engine) :func:`start_plan` says no and
the client creates, then enqueues, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..stores.records import NewRun, RunRecord
from ..stores.redis_plans import Plan, run_plan

if TYPE_CHECKING:
    from dramatiq.message import Message

    from ..stores.redis import RedisStore
    from ..stores.redis_runs import QueuedMessage
    from .doorbell import DoorbellRedisBroker
    from .dramatiq import DramatiqTransport


def start_plan(
    store: Any, transport: Any, runs: Sequence[NewRun], now: float, grace: float, send: Sequence[bool]
) -> Plan[list[tuple[bool, RunRecord]]] | None:
    """The plan creating ``runs`` and enqueueing an advance message for each run created whose
    ``send`` flag is set, all in one ``create`` call; ``None`` when ``store`` and ``transport``
    cannot share a script (then create, and enqueue after)."""
    folded = _folded(store, transport)
    if folded is None:
        return None
    redis_store, dramatiq_transport, broker = folded
    return _create_and_enqueue(redis_store, dramatiq_transport, broker, runs, now, grace, send)


def start_now(
    store: Any, transport: Any, runs: Sequence[NewRun], now: float, grace: float, send: Sequence[bool]
) -> list[tuple[bool, RunRecord]] | None:
    """:func:`start_plan` run with blocking calls (the store's connection); ``None`` as there.

    An unreachable Redis raises :class:`~flowgen.errors.StoreUnavailableError`, as the store's
    own operations do (a plan's round trips are not wrapped by the store).
    """
    plan = start_plan(store, transport, runs, now, grace, send)
    if plan is None:
        return None
    from ..stores.redis import UNREACHABLE, unreachable

    try:
        results: list[tuple[bool, RunRecord]] = run_plan(plan, store.round_trip)
    except UNREACHABLE as error:
        raise unreachable(store.location, error) from error
    return results


def _folded(store: Any, transport: Any) -> tuple[RedisStore, DramatiqTransport, DoorbellRedisBroker] | None:
    """The store, transport and broker of a start that can be one script call, or ``None``.

    Only flowgen's own broker on the store's very client (``Engine("redis://...")``): then the
    broker's queue is on the store's server. An embedded engine's transport has no broker, and
    this imports nothing from Dramatiq for it.
    """
    if getattr(transport, "broker", None) is None:
        return None
    from ..stores.redis import RedisStore
    from .doorbell import DoorbellRedisBroker
    from .dramatiq import DramatiqTransport

    if not (isinstance(store, RedisStore) and isinstance(transport, DramatiqTransport)):
        return None
    broker = transport.broker
    if not isinstance(broker, DoorbellRedisBroker) or broker.client is not store.client or store.cluster:
        return None
    return store, transport, broker


def _create_and_enqueue(
    store: RedisStore,
    transport: DramatiqTransport,
    broker: DoorbellRedisBroker,
    runs: Sequence[NewRun],
    now: float,
    grace: float,
    send: Sequence[bool],
) -> Plan[list[tuple[bool, RunRecord]]]:
    """:func:`start_plan`'s plan: the messages are built (and their ``before_enqueue`` middleware
    run) before the call; ``after_enqueue`` runs for the messages the script pushed."""
    messages: list[Message[Any] | None] = [
        broker.prepared(transport.advance_actor.message(run.run_id)) if flag else None
        for run, flag in zip(runs, send, strict=True)
    ]
    queued: list[QueuedMessage | None] = [
        None if message is None else (message.queue_name, message.options["redis_message_id"], message.encode())
        for message in messages
    ]
    if not any(queued):
        queued = []
    results = yield from store.create_runs_plan(runs, now, grace, queued, broker.namespace if queued else "")
    for message, (created, _) in zip(messages, results, strict=True):
        if message is not None and created:
            broker.emit_after("enqueue", message, None)
    return results
