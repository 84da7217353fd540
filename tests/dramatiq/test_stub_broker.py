"""The StubBroker tier: flowgen on an app's ``StubBroker`` with a real ``dramatiq.Worker``.

Workflows are tested the way Dramatiq users test actors: send, ``broker.join(queue)``,
``worker.join()``, assert. Runs are in memory; the app's actors (tests/apps/dramatiq_workflows.py)
record their executions in the ledger on the test Redis.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Retries, ShutdownNotifications, TimeLimit

import flowgen
from flowgen.stores.memory import MemoryStore
from flowgen.transports.app_broker import FlowgenMiddleware
from tests.apps import dramatiq_workflows as app
from tests.apps.faults_common import LEDGER
from tests.conftest import wait_until

pytestmark = pytest.mark.redis  # the ledger of the steps is on the test Redis


def ledger_entries(url: str, step: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(url)
    try:
        entries = [json.loads(raw) for raw in client.lrange(LEDGER, 0, -1)]
    finally:
        client.close()
    return [entry for entry in entries if entry["step"] == step]


@flowgen.workflow(name="dq.greet")
def greet(user_id: str):
    name = yield app.prepare(user_id)
    return (yield flowgen.actor_step(app.send_email, name, "hello"))


def test_a_workflow_on_the_stub_broker_is_done_after_broker_join_and_worker_join(
    engine: flowgen.Engine, stub_broker: StubBroker, stub_worker: dramatiq.Worker, redis_url: str
) -> None:
    run = engine.start(greet, "ada")
    stub_broker.join(engine.queue, timeout=10_000)
    stub_worker.join()
    assert run.status().status == "completed", engine.export(run.run_id)
    assert run.result(timeout=0) == "sent 'hello' to ADA"
    assert [entry["run"] for entry in ledger_entries(redis_url, "actor.send_email")] == [run.run_id]


def test_actor_step_uses_the_default_declaration_not_a_named_variant_on_another_queue() -> None:
    # tests/apps/dramatiq_workflows.py declares `dq.send_email_on_its_queue` (queue="emails")
    # after any default declaration; `actor_step(send_email)` must still be the inline step named
    # `actor:send_email`, or the greet run above would wait on the emails queue after
    # `broker.join(engine.queue)` returned.
    call = flowgen.actor_step(app.send_email, "ada", "hello")
    assert call.step.name == "actor:send_email"
    assert call.step.queue is None
    assert app.send_email_on_its_queue("ada", "hi").step.queue == "emails"


def test_timers_and_events_move_runs_through_the_services_the_middleware_started(
    engine: flowgen.Engine, stub_worker: dramatiq.Worker, redis_url: str
) -> None:
    runs = [engine.start(app.onboarding, f"user-{n}", 0.2) for n in range(3)]
    # Past the sleep (only the timer poller the middleware started can wake a sleeping run).
    wait_until(
        lambda: all(run.status().waiting_for == ("approved",) for run in runs)
        if all(run.status().status == "waiting" for run in runs)
        else False,
        20,
        "every run to sleep, wake up and wait for its event",
    )
    for run in runs:
        run.send_event("approved", {"by": "ops"})
    results = [run.result(timeout=20) for run in runs]
    assert results == [
        {"name": f"USER-{n}", "sent": f"sent 'welcome' to user-{n}", "approval": {"by": "ops"}} for n in range(3)
    ]
    # The actor used as a step ran once per run although each run advanced at least three
    # times (start, timer, event): replay never calls it again.
    executions = ledger_entries(redis_url, "actor.send_email")
    assert sorted(entry["run"] for entry in executions) == sorted(run.run_id for run in runs)
    for run in runs:
        kinds = [entry["kind"] for entry in run.journal()]
        assert kinds == ["step", "step", "sleep", "event"]


def test_an_actor_as_a_step_gets_flowgens_retries_and_one_idempotency_key(
    engine: flowgen.Engine, stub_worker: dramatiq.Worker, redis_url: str
) -> None:
    run = engine.start(app.charge, "o-7")
    assert run.result(timeout=20) == {"order": "o-7", "attempt": 2}
    executions = ledger_entries(redis_url, "actor.flaky_charge")
    assert [entry["attempt"] for entry in executions] == [1, 2]
    assert len({entry["key"] for entry in executions}) == 1
    entry = run.journal()[0]
    assert entry["name"] == "actor:flaky_charge"
    assert [attempt["status"] for attempt in entry["attempts"]] == ["error", "ok"]
    # The actor is unchanged: it still runs as an ordinary message.
    client = redis.Redis.from_url(redis_url)
    try:
        app.send_email.send("zoe", "news")
        wait_until(lambda: client.lrange("test:actor-messages", 0, -1), 10, "the actor's own message to run")
        assert client.lrange("test:actor-messages", 0, -1) == [b"send_email:zoe"]
    finally:
        client.close()


def test_ordinary_actor_code_starts_a_workflow_once_even_if_its_message_is_delivered_twice(
    engine: flowgen.Engine, stub_broker: StubBroker, stub_worker: dramatiq.Worker
) -> None:
    app.signup.send("bob")
    app.signup.send("bob")
    stub_broker.join(app.signup.queue_name, timeout=10_000)
    stub_worker.join()
    assert [info.run_id for info in engine.runs()] == ["signup-bob"]
    run = engine.get("signup-bob")
    wait_until(lambda: run.status().waiting_for == ("approved",), 20, "the run to wait for its event")
    run.send_event("approved", True)
    assert run.result(timeout=20)["approval"] is True


@flowgen.step(name="dq.slow", retries=0)
def slow(seconds: float) -> str:
    threading.Event().wait(seconds)
    return "done"


@flowgen.workflow(name="dq.slow_flow")
def slow_flow(seconds: float):
    return (yield slow(seconds))


def test_the_apps_time_limit_age_limit_and_shutdown_notifications_do_not_apply_to_flowgens_actors() -> None:
    # An app with a 0.2 s time limit, a 1 ms age limit, shutdown notifications for every actor
    # and retries whatever happens. Without flowgen's actor options the step would be
    # interrupted at 0.2 s and every message older than 1 ms would be skipped.
    broker = StubBroker(
        middleware=[
            AgeLimit(max_age=1),
            TimeLimit(time_limit=200, interval=20),
            ShutdownNotifications(notify_shutdown=True),
            Retries(max_retries=20, retry_when=lambda retries, error: True),
        ]
    )
    broker.emit_after("process_boot")
    with flowgen.Engine("memory://", broker=broker) as engine:
        worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=2)
        worker.start()
        try:
            run = engine.start(slow_flow, 0.6)
            assert run.result(timeout=20) == "done"
        finally:
            worker.stop()
        assert broker.dead_letters == []


def test_one_engine_per_broker_and_close_detaches_it(stub_broker: StubBroker) -> None:
    first = flowgen.Engine("memory://", broker=stub_broker)
    assert sum(isinstance(m, FlowgenMiddleware) for m in stub_broker.middleware) == 1
    assert {"flowgen.advance", "flowgen.run_branch"} <= set(stub_broker.get_declared_actors())
    with pytest.raises(flowgen.ConfigurationError, match="one Engine per broker"):
        flowgen.Engine("memory://", broker=stub_broker)
    first.close()
    assert not any(isinstance(m, FlowgenMiddleware) for m in stub_broker.middleware)
    flowgen.Engine("memory://", broker=stub_broker).close()


def test_bad_brokers_and_non_actors_are_refused_with_the_fix() -> None:
    with pytest.raises(flowgen.ConfigurationError, match=r"broker must be a Dramatiq broker .* got 'redis://"):
        flowgen.Engine("memory://", broker="redis://localhost")  # type: ignore[arg-type]

    with pytest.raises(flowgen.ConfigurationError, match=r"either broker= .* or store= and transport="):
        flowgen.Engine("memory://", broker=StubBroker(), store=MemoryStore())

    def plain(user_id: str) -> None: ...

    with pytest.raises(TypeError, match=r"expected a Dramatiq actor .* @flowgen.step"):
        flowgen.actor_step(plain, "u")


@flowgen.step(name="dq.side", queue="dq-side", retries=0)
def side(n: int) -> int:
    return n * 2


@flowgen.workflow(name="dq.side_flow")
def side_flow(n: int):
    return (yield side(n))


def test_a_worker_booting_on_the_apps_broker_declares_and_consumes_the_queues_of_queue_steps() -> None:
    # A worker dedicated to the step's queue (`dramatiq myapp --queues dq-side`) never sends to
    # it, so nothing else would declare it there, and Dramatiq consumes declared queues only.
    broker = StubBroker()
    broker.emit_after("process_boot")
    with flowgen.Engine("memory://", broker=broker) as engine:
        assert "dq-side" not in broker.get_declared_queues()
        side_worker = dramatiq.Worker(broker, queues={"dq-side"}, worker_timeout=50, worker_threads=1)
        side_worker.start()
        try:
            assert "dq-side" in broker.get_declared_queues()
            assert "dq-side" in side_worker.consumers
            run = engine.start(side_flow, 21)
            general = dramatiq.Worker(broker, queues={engine.queue}, worker_timeout=50, worker_threads=1)
            general.start()
            try:
                assert run.result(timeout=20) == 42
            finally:
                general.stop()
        finally:
            side_worker.stop()


class CountAdvances(dramatiq.Middleware):
    def __init__(self) -> None:
        self.count = 0

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        if message.actor_name == "flowgen.advance":
            self.count += 1


def test_a_worker_started_again_in_the_same_process_advances_runs_at_full_speed(
    engine: flowgen.Engine, stub_broker: StubBroker
) -> None:
    # The first worker's graceful stop drained the runtime and stopped lease renewal; the
    # next worker's boot must undo both, or every run would stop after each of its steps.
    counter = CountAdvances()
    stub_broker.add_middleware(counter)
    try:
        for round_number in range(2):
            worker = dramatiq.Worker(stub_broker, worker_timeout=50, worker_threads=2)
            worker.start()
            try:
                before = counter.count
                run = engine.start(three_steps, run_id=f"again-{round_number}")
                stub_broker.join(engine.queue, timeout=10_000)
                worker.join()
                assert run.status().status == "completed"
                assert counter.count - before == 1, "one advance message ran the three steps"
                assert engine._leases is not None and engine._leases._thread is not None
                assert engine._leases._thread.is_alive()
            finally:
                worker.stop()
    finally:
        stub_broker.middleware.remove(counter)


@flowgen.step(name="dq.noop", retries=0)
def noop(n: int) -> int:
    return n


@flowgen.workflow(name="dq.three_steps")
def three_steps():
    total = 0
    for n in range(3):
        total += yield noop(n)
    return total


class SeenQueues(dramatiq.Middleware):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        self.seen.append((message.queue_name, message.actor_name))


def test_an_actor_step_declared_with_the_actors_queue_runs_as_a_message_on_that_queue(
    engine: flowgen.Engine, stub_broker: StubBroker, stub_worker: dramatiq.Worker, redis_url: str
) -> None:
    seen = SeenQueues()
    stub_broker.add_middleware(seen)
    try:
        run = engine.start(app.email_on_its_queue, "ann")
        assert run.result(timeout=20) == "sent 'queued' to ann"
    finally:
        stub_broker.middleware.remove(seen)
    assert ("emails", "flowgen.run_branch") in seen.seen
    assert [entry["name"] for entry in run.journal()] == ["dq.send_email_on_its_queue"]
    assert [entry["run"] for entry in ledger_entries(redis_url, "actor.send_email")] == [run.run_id]
