"""A start on Redis is one round trip: ``create`` makes the run and enqueues its first message.

The client used to send the ``create`` script, then (once the reply said the run is new) the
doorbell broker's enqueue and ring: two round trips before a worker could fetch. Now the
``create`` script pushes the message of each run it creates and rings the doorbell itself
(``flowgen/transports/start_enqueue.py``). These tests watch the server with ``MONITOR``: the
commands a client sent, and what the scripts did inside. A start of an existing run id must
still enqueue nothing, a delayed run gets no message, and on a cluster (where a run's queue is
in another slot) the client keeps creating, then enqueueing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from dramatiq.message import Message

import flowgen
from tests.apps import core
from tests.redis_urls import broker_key, redis_client

pytestmark = pytest.mark.redis

QUEUE = "flowgen-dramatiq:flowgen"
DOORBELL = "flowgen-dramatiq:doorbell:flowgen"


def watched(url: str, action: Callable[[], Any]) -> list[tuple[str, str]]:
    """``(who, command)`` of every command the server ran during ``action()``: ``who`` is ``lua``
    for a command a script ran, else the client's kind (``tcp``/``unix``)."""
    marker_client = redis.Redis.from_url(url)
    marker_client.ping()  # connected (its HELLO sent) before the watch starts
    marker = f"watched-{uuid.uuid4().hex}"
    seen: list[tuple[str, str]] = []
    with redis.Redis.from_url(url, socket_timeout=30).monitor() as monitor:
        action()
        marker_client.echo(marker)
        for command in monitor.listen():  # the socket timeout bounds the wait
            if marker in command["command"]:
                break
            seen.append((command["client_type"], command["command"]))
    marker_client.close()
    return seen


def sent(seen: list[tuple[str, str]]) -> list[str]:
    """The command names clients sent (not the scripts' own calls)."""
    return [command.split(" ", 1)[0].upper() for who, command in seen if who != "lua"]


def scripted(seen: list[tuple[str, str]], name: str) -> list[str]:
    """The commands named ``name`` that scripts ran."""
    return [command for who, command in seen if who == "lua" and command.split(" ", 1)[0].upper() == name]


def queued_runs(client: Any, queue: str = QUEUE) -> list[str]:
    """The run ids of the advance messages waiting in the queue, in order."""
    ids = client.lrange(queue, 0, -1)
    return [Message.decode(client.hget(f"{queue}.msgs", message_id)).args[0] for message_id in ids]


@pytest.fixture
def engine(single_redis_url: str) -> Iterator[flowgen.Engine]:
    with flowgen.Engine(single_redis_url) as engine:
        engine.start(core.five_steps, 0, run_id="warm-up")  # the scripts are loaded
        yield engine


def test_a_start_is_one_script_call_that_creates_the_run_enqueues_it_and_rings(
    engine: flowgen.Engine, single_redis_url: str
) -> None:
    client = redis.Redis.from_url(single_redis_url)
    seen = watched(single_redis_url, lambda: engine.start(core.five_steps, 2, run_id="one-trip"))

    assert sent(seen) == ["EVALSHA"]  # before: EVALSHA create, then the enqueue and its ring
    assert len(scripted(seen, "RPUSH")) == 1
    assert scripted(seen, "LPUSH") == [f"LPUSH {DOORBELL} 1"]  # rung after the push
    assert queued_runs(client) == ["warm-up", "one-trip"]
    assert client.llen(DOORBELL) == 2  # no consumer: a wake-up token per waiting message
    client.close()


def test_starting_an_existing_run_id_again_enqueues_nothing(
    engine: flowgen.Engine, single_redis_url: str
) -> None:
    client = redis.Redis.from_url(single_redis_url)
    first = engine.start(core.five_steps, 2, run_id="twice")
    seen = watched(single_redis_url, lambda: engine.start(core.five_steps, 2, run_id="twice"))

    assert sent(seen) == ["EVALSHA"]
    assert scripted(seen, "RPUSH") == [] and scripted(seen, "LPUSH") == []
    assert queued_runs(client) == ["warm-up", "twice"]
    with pytest.raises(flowgen.RunIdConflictError):
        engine.start(core.five_steps, 3, run_id="twice")
    assert queued_runs(client) == ["warm-up", "twice"]
    assert first.status().status == flowgen.RunStatus.QUEUED
    client.close()


def test_start_many_enqueues_the_new_runs_only_in_its_one_call_and_a_delayed_run_none(
    engine: flowgen.Engine, single_redis_url: str
) -> None:
    client = redis.Redis.from_url(single_redis_url)
    engine.start(core.five_steps, 1, run_id="old")
    calls = [((1,), None, "old"), ((2,), None, "new-1"), ((3,), None, "new-2")]
    started: list[Any] = []
    seen = watched(single_redis_url, lambda: started.append(engine.start_many(core.five_steps, calls)))

    assert sent(seen) == ["EVALSHA"]
    assert scripted(seen, "LPUSH") == [f"LPUSH {DOORBELL} 1"] * 2  # a ring for the batch: a token each
    assert started[0].created == ["new-1", "new-2"] and started[0].existing == ["old"]
    assert queued_runs(client) == ["warm-up", "old", "new-1", "new-2"]

    later = engine.start(core.five_steps, 4, run_id="later", delay=3600)
    assert later.status().starts_at is not None
    assert queued_runs(client) == ["warm-up", "old", "new-1", "new-2"]  # its timer starts it
    client.close()


def test_a_start_with_tags_enqueues_its_run_once_the_tags_are_set(
    engine: flowgen.Engine, single_redis_url: str
) -> None:
    client = redis.Redis.from_url(single_redis_url)
    seen = watched(
        single_redis_url, lambda: engine.start(core.five_steps, 2, run_id="tagged", tags={"k": "v"})
    )

    names = sent(seen)
    assert names[0] == "EVALSHA" and len(names) >= 3  # create, tags, then the enqueue and its ring
    assert queued_runs(client) == ["warm-up", "tagged"]
    assert [run.run_id for run in engine.runs(tags={"k": "v"})] == ["tagged"]
    client.close()


def test_the_async_client_starts_in_one_round_trip_too(single_redis_url: str) -> None:
    client = redis.Redis.from_url(single_redis_url)

    async def main() -> None:
        async with flowgen.AsyncEngine(single_redis_url) as engine:
            await engine.start(core.five_steps, 0, run_id="async-warm-up")
            seen: list[tuple[str, str]] = []
            loop = asyncio.get_running_loop()

            def start() -> None:
                asyncio.run_coroutine_threadsafe(
                    engine.start(core.five_steps, 2, run_id="async-one"), loop
                ).result(30)

            seen = await loop.run_in_executor(None, watched, single_redis_url, start)
            assert sent(seen) == ["EVALSHA"]
            again = await loop.run_in_executor(
                None,
                watched,
                single_redis_url,
                lambda: asyncio.run_coroutine_threadsafe(
                    engine.start(core.five_steps, 2, run_id="async-one"), loop
                ).result(30),
            )
            assert sent(again) == ["EVALSHA"] and scripted(again, "RPUSH") == []

    asyncio.run(main())
    assert queued_runs(client) == ["async-warm-up", "async-one"]
    client.close()


def test_starts_run_and_a_repeated_start_adds_no_message_on_redis_and_on_a_cluster(redis_url: str) -> None:
    client = redis_client(redis_url)
    queue = broker_key(redis_url, "flowgen")
    with flowgen.Engine(redis_url) as engine:
        run = engine.start(core.five_steps, 3, run_id="both-kinds")
        engine.start(core.five_steps, 3, run_id="both-kinds")
        assert client.llen(queue) == 1
        with engine.worker(threads=2):
            assert run.result(timeout=30) == {"value": 15, "even": False}
            assert engine.start(core.five_steps, 3, run_id="both-kinds").result(timeout=5) == {
                "value": 15,
                "even": False,
            }
            fresh = engine.start(core.five_steps, 4)
            assert fresh.result(timeout=30) == {"value": 19, "even": False}
    client.close()
