"""Fixtures of the security tests: an engine on the test Redis with worker threads in this process.

The attacks are written straight to Redis with a plain client, as anyone with write access to
it could; the workers are real (Dramatiq worker threads, the real runtime and Lua scripts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

import flowgen
from tests.security import apps

SECRET = "security-suite-secret-key-0123456789"
FAST = {"lease_ttl": 2.0, "grace": 1.0, "reconcile_interval": 0.3}


@pytest.fixture(autouse=True)
def _reset_apps() -> Iterator[None]:
    apps.reset()
    yield
    for gate in apps.gates.values():
        gate.set()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def engine_on_redis(redis_url: str) -> Iterator[Callable[..., flowgen.Engine]]:
    """``engine_on_redis(**options)``: an engine with 4 worker threads, stopped after the test."""
    opened: list[tuple[flowgen.Engine, Any]] = []

    def open_engine(**options: Any) -> flowgen.Engine:
        engine = flowgen.Engine(redis_url, **{**FAST, **options})
        opened.append((engine, engine.worker(threads=4)))
        return engine

    yield open_engine
    for engine, worker in reversed(opened):
        worker.stop()
        engine.close()


SEALED_MODES = {
    "pickle": {"serializer": "pickle", "secret_key": SECRET},
    "json+key": {"serializer": "json", "secret_key": SECRET},
}


def run_key(run_id: str, part: str) -> str:
    """The Redis key of one of a run's structures (``meta``, ``journal``, ``inbox:<type>``...)."""
    return f"flowgen:{{{run_id}}}:{part}"


def meta_key(run_id: str) -> str:
    return run_key(run_id, "meta")


def journal_key(run_id: str) -> str:
    return run_key(run_id, "journal")


def journal(client: redis.Redis, run_id: str) -> list[dict[str, Any]]:
    return [json.loads(item) for item in client.lrange(journal_key(run_id), 0, -1)]


def set_entry(client: redis.Redis, run_id: str, position: int, entry: dict[str, Any]) -> None:
    client.lset(journal_key(run_id), position, json.dumps(entry))


def wake(engine: flowgen.Engine, client: redis.Redis, run_id: str) -> None:
    """Make a parked run ready and send its message, as an event would."""
    client.hincrby(meta_key(run_id), "signals", 1)
    client.zadd("flowgen:ready", {run_id: time.time()})
    engine.transport.enqueue([run_id])


def push_event(client: redis.Redis, run_id: str, event_type: str, payload: str, event_id: str) -> None:
    """Put an event in a run's inbox without the send_event script (no duplicate check)."""
    item = json.dumps({"id": event_id, "payload": payload, "sent": time.time()})
    client.rpush(run_key(run_id, f"inbox:{event_type}"), item)
    client.sadd(run_key(run_id, "inboxes"), event_type)


def wait_status(run: flowgen.Run, *statuses: str, timeout: float = 30.0) -> flowgen.RunInfo:
    return run.wait_for_status(*statuses, timeout=timeout)


def failure(run: flowgen.Run, timeout: float = 30.0) -> BaseException:
    """Wait for the run to fail and return the error it failed with (the ``__cause__``)."""
    with pytest.raises(flowgen.WorkflowFailedError) as caught:
        run.result(timeout=timeout)
    cause = caught.value.__cause__
    assert cause is not None
    return cause
