"""Steps routed to their own queues (``@step(queue=...)``) with real ``flowgen worker`` processes.

A worker consumes every queue it is told to (``--queues``), declared when it starts; a run whose
step branch is routed to a queue no live worker consumes says so (``RunInfo.unconsumed_queues``,
a warning in the worker's log) instead of waiting silently. Branch messages queued under the
branch actor's former name (``flowgen.step``) still run.
"""

from __future__ import annotations

import pytest
from dramatiq.message import Message

import flowgen
from flowgen.transports.dramatiq import BRANCH_ACTOR, BRANCH_ACTOR_ALIASES
from tests.apps import queues
from tests.conftest import wait_until
from tests.redis_urls import broker_key, redis_client

pytestmark = pytest.mark.redis



def test_a_worker_dedicated_to_a_step_queue_runs_the_steps_routed_there(redis_url: str, start_worker) -> None:
    start_worker("tests.apps.queues", args=["--queues", "flowgen"])
    dedicated = start_worker("tests.apps.queues", args=["--queues", queues.ROUTED_QUEUE])
    with flowgen.Engine(redis_url) as engine:
        run = engine.start(queues.routed, 4, run_id="routed-1")
        assert run.result(timeout=30) == 50
    assert queues.ran_in("routed-1") == dedicated.pid, "the step ran in the worker consuming its queue"


def test_a_worker_given_no_queues_consumes_the_queues_of_its_steps_from_the_start(
    redis_url: str, start_worker
) -> None:
    start_worker("tests.apps.queues")
    with flowgen.Engine(redis_url) as engine:
        # Before any branch was sent there: the worker declared its steps' queues when it started.
        wait_until(
            lambda: engine.transport.unconsumed([queues.ROUTED_QUEUE, queues.UNCONSUMED_QUEUE]) == [],
            10,
            "the worker to consume its steps' queues",
        )
        assert engine.transport.unconsumed(["queue-of-no-step"]) == ["queue-of-no-step"]
        assert engine.start(queues.routed, 1, run_id="routed-default").result(timeout=30) == 20


def test_a_branch_routed_to_a_queue_no_worker_consumes_is_visible_until_one_does(
    redis_url: str, start_worker
) -> None:
    advancer = start_worker("tests.apps.queues", args=["--queues", "flowgen"])
    with flowgen.Engine(redis_url) as engine:
        run = engine.start(queues.stranded, 1, run_id="stranded-1")
        info = wait_until(
            lambda: (status := run.status()).status == "waiting" and status.unconsumed_queues and status,
            30,
            "the run to wait on a queue with no consumer",
        )
        assert info.unconsumed_queues == (queues.UNCONSUMED_QUEUE,)
        wait_until(lambda: "which no live worker consumes" in advancer.log(), 10, "the worker's warning")
        assert f"queue '{queues.UNCONSUMED_QUEUE}'" in advancer.log()

        consumer = start_worker("tests.apps.queues", args=["--queues", queues.UNCONSUMED_QUEUE])
        assert run.result(timeout=30) == 2
        assert queues.ran_in("stranded-1") == consumer.pid
        assert run.status().unconsumed_queues == ()


def test_branch_messages_queued_under_the_former_actor_name_still_run(redis_url: str, start_worker) -> None:
    assert BRANCH_ACTOR == "flowgen.run_branch" and "flowgen.step" in BRANCH_ACTOR_ALIASES
    start_worker("tests.apps.queues", args=["--queues", "flowgen"])
    client = redis_client(redis_url)
    queue_key = broker_key(redis_url, queues.UNCONSUMED_QUEUE)
    with flowgen.Engine(redis_url) as engine:
        run = engine.start(queues.stranded, 7, run_id="legacy-1")
        message_id = wait_until(lambda: client.lindex(queue_key, 0), 30, "the branch message to be queued")
        sent = Message.decode(client.hget(f"{queue_key}.msgs", message_id))
        assert sent.actor_name == BRANCH_ACTOR
        # Take the message out of its queue and send it again as an older flowgen did: under the
        # actor name ``flowgen.step``, on the queue the worker consumes.
        client.lrem(queue_key, 1, message_id)
        client.hdel(f"{queue_key}.msgs", message_id)
        legacy = Message(
            queue_name="flowgen", actor_name="flowgen.step", args=sent.args, kwargs={}, options={}
        )
        engine.transport.broker.enqueue(legacy)  # type: ignore[attr-defined]
        assert run.result(timeout=30) == 8
    client.close()
