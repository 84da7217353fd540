"""Real ``dramatiq`` CLI workers (not ``flowgen worker``) of an app with flowgen added.

The app (tests/apps/dramatiq_app.py) has its own broker (Redis, or a real RabbitMQ node this
session starts), Dramatiq's default middleware, Dramatiq's Prometheus middleware and a custom
one; ``dramatiq tests.apps.dramatiq_app`` runs it. Runs are stored on the test Redis.
"""

from __future__ import annotations

import urllib.request

import dramatiq
import pytest
import redis

import flowgen
from tests.apps import dramatiq_workflows as app
from tests.apps.faults_common import LEDGER
from tests.conftest import wait_until
from tests.dramatiq.conftest import DramatiqWorkers
from tests.faults.support import Ledger

pytestmark = pytest.mark.redis  # the ledger of the steps is on the test Redis

SEEN = "test:middleware-seen"
"""Where the app's own middleware records the messages it saw (tests/apps/dramatiq_app.py)."""


def metrics(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def test_dramatiq_cli_workers_run_workflows_timers_events_and_actor_steps_with_the_apps_middleware(
    app_broker: tuple[str, str, dramatiq.Broker],
    client: flowgen.Engine,
    dramatiq_workers: DramatiqWorkers,
    redis_url: str,
) -> None:
    kind, url, _broker = app_broker
    worker = dramatiq_workers.start(kind, url, redis_url)
    runs = [client.start(app.onboarding, f"u{n}", 0.3) for n in range(5)]
    # Sleeping, then waiting: the timer poller the middleware started in the dramatiq worker
    # woke them up.
    wait_until(
        lambda: all(run.status().waiting_for == ("approved",) for run in runs), 60, "every run to wait for its event"
    )
    for n, run in enumerate(runs):
        run.send_event("approved", {"n": n})
    for n, run in enumerate(runs):
        assert run.result(timeout=60) == {"name": f"U{n}", "sent": f"sent 'welcome' to u{n}", "approval": {"n": n}}
        assert [entry["kind"] for entry in run.journal()] == ["step", "step", "sleep", "event"]

    ledger = Ledger(redis_url)
    try:
        # The actor used as a step ran once per run, in the dramatiq worker process.
        executions = ledger.executions("actor.send_email")
        assert sorted(run for run, _, _ in executions) == sorted(run.run_id for run in runs)
        assert set(executions.values()) == {1}
        assert {entry["pid"] for entry in ledger.entries("actor.send_email")} <= worker.worker_pids()
        # The app's own middleware saw flowgen's messages (every advance succeeded).
        seen = [raw.decode() for raw in ledger.client.lrange(SEEN, 0, -1)]
        assert seen.count("flowgen.advance:ok") >= 3 * len(runs)
        assert not [item for item in seen if item.endswith(":error")]
    finally:
        ledger.close()
    # Dramatiq's Prometheus middleware counted them.
    wanted = 'dramatiq_messages_total{actor_name="flowgen.advance",queue_name="flowgen"}'
    wait_until(lambda: wanted in metrics(worker.metrics_port), 30, "Prometheus to expose flowgen's messages")
    assert worker.stop() == 0, worker.log()[-3000:]


def test_ordinary_actor_code_in_a_dramatiq_worker_starts_a_workflow(
    app_broker: tuple[str, str, dramatiq.Broker],
    client: flowgen.Engine,
    dramatiq_workers: DramatiqWorkers,
    redis_url: str,
) -> None:
    kind, url, broker = app_broker
    dramatiq_workers.start(kind, url, redis_url)
    broker.enqueue(app.signup.message("carl"))
    wait_until(lambda: _waiting(client, "signup-carl"), 60, "the actor to start the run and the run to wait")
    run = client.get("signup-carl")
    run.send_event("approved", "yes")
    assert run.result(timeout=60)["approval"] == "yes"
    ledger = redis.Redis.from_url(redis_url)
    try:
        steps = [raw for raw in ledger.lrange(LEDGER, 0, -1) if b'"actor.send_email"' in raw]
        assert len(steps) == 1
    finally:
        ledger.close()


def _waiting(engine: flowgen.Engine, run_id: str) -> bool:
    try:
        return engine.status(run_id).waiting_for == ("approved",)
    except flowgen.RunNotFoundError:
        return False
