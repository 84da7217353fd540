"""flowgen on an app's plain ``RedisBroker`` in this process: the backlog, ``Engine.worker()``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dramatiq.brokers.redis import RedisBroker

import flowgen
from flowgen.transports.dramatiq import DramatiqTransport
from tests.apps import dramatiq_workflows as app
from tests.conftest import wait_until

pytestmark = pytest.mark.redis


@pytest.fixture
def app_redis_broker(redis_url: str) -> Iterator[RedisBroker]:
    broker = RedisBroker(url=redis_url, namespace="app")
    yield broker
    broker.close()


def test_the_reconciler_reads_the_backlog_of_an_apps_redis_broker(
    redis_url: str, app_redis_broker: RedisBroker
) -> None:
    # No worker consumes: the run's message waits at the head of the app broker's queue, and
    # the reconciler must see how long (else it would re-enqueue runs that are only queued).
    with flowgen.Engine(redis_url, broker=app_redis_broker) as engine:
        transport = engine.transport
        assert isinstance(transport, DramatiqTransport)
        assert transport.backlog() == 0.0
        engine.start(app.onboarding, "q", 0.1)
        wait_until(lambda: transport.backlog() >= 0.2, 10, "the backlog to show the waiting message")


def test_engine_worker_on_an_apps_broker_advances_runs_with_the_middlewares_services(
    redis_url: str, app_redis_broker: RedisBroker
) -> None:
    with flowgen.Engine(redis_url, broker=app_redis_broker, timer_interval=0.02) as engine:
        app.engine = engine
        try:
            with engine.worker(threads=2):
                run = engine.start(app.onboarding, "w", 0.2)
                wait_until(lambda: run.status().waiting_for == ("approved",), 20, "the timer to fire")
                run.send_event("approved", 1)
                assert run.result(timeout=20)["approval"] == 1
        finally:
            app.engine = None
