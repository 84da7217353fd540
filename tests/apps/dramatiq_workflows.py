"""Workflows and actors of the Dramatiq-integration tests (tests/dramatiq), on the app's broker.

The actors are ordinary ``@dramatiq.actor`` functions declared on the global broker, the way an
app declares them: whoever imports this module sets that broker first
(:mod:`tests.apps.dramatiq_app` for ``dramatiq`` CLI workers, the StubBroker fixture of
tests/dramatiq/conftest.py in-process). Every actor body records its executions in the ledger
(tests/apps/faults_common.py), so a test counts them across processes.
"""

from __future__ import annotations

from typing import Any

import dramatiq
import dramatiq.broker

import flowgen
from tests.apps.faults_common import ledger, record

if dramatiq.broker.global_broker is None:  # pragma: no cover - a mistake in a test, not a test
    raise RuntimeError("set the app's broker (dramatiq.set_broker) before importing tests.apps.dramatiq_workflows")

engine: flowgen.Engine | None = None
"""The app's engine, set by whoever builds it (ordinary actor code starts workflows with it)."""


def current_engine() -> flowgen.Engine:
    if engine is None:
        raise RuntimeError("no flowgen Engine was built on the app's broker")
    return engine


@dramatiq.actor(queue_name="emails", max_retries=7)
def send_email(user_id: str, subject: str) -> str:
    """An app's existing actor, unchanged; the onboarding workflow calls it as a step."""
    try:
        flowgen.step_context()
    except flowgen.FlowgenError:
        ledger().rpush("test:actor-messages", f"send_email:{user_id}")  # sent as a message
    else:
        record("actor.send_email")  # called as a step
    return f"sent {subject!r} to {user_id}"


@dramatiq.actor
def flaky_charge(order_id: str) -> dict[str, Any]:
    """Fails the first time it runs for an idempotency key, then succeeds."""
    context = flowgen.step_context()
    record("actor.flaky_charge")
    if ledger().hsetnx("test:flaky", context.idempotency_key, context.attempt):
        raise ConnectionError(f"the payment service dropped order {order_id}")
    return {"order": order_id, "attempt": context.attempt}


flaky_charge_step = flowgen.actor_as_step(flaky_charge, retries=flowgen.Retry(limit=2, delay=0.05))


@flowgen.step(name="dq.prepare", retries=0)
def prepare(user_id: str) -> str:
    record("dq.prepare")
    return user_id.upper()


@flowgen.workflow(name="dq.onboarding")
def onboarding(user_id: str, nap: float):
    """A step, an existing actor as a step, a durable sleep, an event: the whole toolbox."""
    name = yield prepare(user_id)
    sent = yield flowgen.actor_step(send_email, user_id, "welcome")
    yield flowgen.sleep(nap)
    approval = yield flowgen.wait_for_event("approved", timeout="120s")
    return {"name": name, "sent": sent, "approval": approval}


@flowgen.workflow(name="dq.charge")
def charge(order_id: str):
    """An actor as a step with flowgen's retries: its first attempt fails."""
    return (yield flaky_charge_step(order_id))


@dramatiq.actor
def signup(user_id: str) -> None:
    """Ordinary actor code that starts a workflow (idempotent on the run id, so a redelivered
    message starts nothing twice)."""
    current_engine().start(onboarding, user_id, 0.2, run_id=f"signup-{user_id}")


send_email_on_its_queue = flowgen.actor_as_step(
    send_email, name="dq.send_email_on_its_queue", queue=send_email.queue_name, retries=0
)


@flowgen.workflow(name="dq.email_on_its_queue")
def email_on_its_queue(user_id: str):
    """The actor as a step sent as its own message on the actor's queue (``emails``)."""
    return (yield send_email_on_its_queue(user_id, "queued"))
