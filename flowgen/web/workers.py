"""The workers page's report: live worker processes, the queues they consume, leases, backlog.

On Redis, each worker process records its presence on every queue it consumes once a second
(``<namespace>:__consumers__.<queue>``, see :mod:`flowgen.transports.doorbell`): the report
reads those sorted sets (a handful of keys, found with ``SCAN``), the length of each queue and
the age of the oldest waiting advance message. Embedded engines (SQLite, memory) advance runs on
threads of the processes that opened the store, which leave no presence: their report shows the
leases of running runs only.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from ..engine import Engine
from ..status import RunStatus
from ..transports.doorbell import DoorbellRedisBroker
from ..transports.dramatiq import DramatiqTransport

LEASES_SHOWN = 200


@attrs.frozen
class Consumer:
    """A worker process seen consuming a queue (``last_seen`` in Unix seconds)."""

    worker: str
    queue: str
    last_seen: float
    live: bool


@attrs.frozen
class Lease:
    """A running run and the worker that holds it."""

    run_id: str
    workflow: str
    owner: str
    expires: float


@attrs.frozen
class WorkersReport:
    """What the workers page shows."""

    kind: str  # "redis" or "embedded"
    consumers: tuple[Consumer, ...]
    queues: tuple[tuple[str, int], ...]  # (queue, messages waiting)
    backlog_seconds: float
    leases: tuple[Lease, ...]


def report(engine: Engine) -> WorkersReport:
    """Read the report from the store and the broker (a few commands, no scan of the runs)."""
    leases = tuple(
        Lease(info.run_id, info.workflow, record.owner, record.lease_until)
        for info in engine.runs(status=RunStatus.RUNNING, limit=LEASES_SHOWN)
        if (record := engine.store.get_run(info.run_id)) is not None and record.owner
    )
    transport = engine.transport
    if not isinstance(transport, DramatiqTransport) or not isinstance(transport.broker, DoorbellRedisBroker):
        return WorkersReport("embedded", (), (), 0.0, leases)
    broker = transport.broker
    consumers, queues = _consumers(broker)
    return WorkersReport("redis", consumers, queues, transport.backlog(), leases)


def _consumers(broker: DoorbellRedisBroker) -> tuple[tuple[Consumer, ...], tuple[tuple[str, int], ...]]:
    client: Any = broker.client
    prefix = f"{broker.namespace}:__consumers__."
    now_ms = time.time() * 1000
    consumers: list[Consumer] = []
    queue_names: set[str] = set()
    for key in client.scan_iter(match=f"{prefix}*", count=100):
        name = key.decode() if isinstance(key, bytes) else str(key)
        queue = name[len(prefix) :]
        queue_names.add(queue)
        for member, score in client.zrange(name, 0, -1, withscores=True):
            worker = member.decode() if isinstance(member, bytes) else str(member)
            live = now_ms - float(score) <= broker.heartbeat_timeout
            consumers.append(Consumer(worker, queue, float(score) / 1000.0, live))
    lengths = [(queue, int(client.llen(f"{broker.namespace}:{queue}"))) for queue in sorted(queue_names)]
    consumers.sort(key=lambda c: (not c.live, c.worker, c.queue))
    return tuple(consumers), tuple(lengths)
