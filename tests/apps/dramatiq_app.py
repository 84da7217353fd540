"""A Dramatiq app with flowgen added, as ``dramatiq tests.apps.dramatiq_app`` runs it.

Its broker is the app's own, chosen by ``FLOWGEN_TEST_BROKER`` (``redis`` or ``rabbitmq``) on
``FLOWGEN_TEST_BROKER_URL``, with Dramatiq's default middleware, Dramatiq's Prometheus
middleware and a custom one (:class:`Seen`) that records every message it sees. Runs are stored
at ``FLOWGEN_TEST_STORE_URL``; ``FLOWGEN_TEST_FAST=1`` shortens leases and grace so the fault
tests recover quickly. It declares the workflows of :mod:`tests.apps.dramatiq_workflows` and
of the fault suite (:mod:`tests.apps.faults`).
"""

from __future__ import annotations

import os
from typing import Any

import dramatiq
from dramatiq.middleware.prometheus import Prometheus

import flowgen
from tests.apps.faults_common import ledger

SEEN = "test:middleware-seen"
"""The Redis list (on the ledger's server) of ``<actor name>:<ok|error>`` per message :class:`Seen` saw."""


class Seen(dramatiq.Middleware):
    """An app's own middleware: records each message it sees processed (and how it ended)."""

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        ledger().rpush(SEEN, f"{message.actor_name}:{'error' if exception else 'ok'}")


def make_broker() -> dramatiq.Broker:
    kind = os.environ.get("FLOWGEN_TEST_BROKER", "redis")
    url = os.environ["FLOWGEN_TEST_BROKER_URL"]
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url)
    if kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url)
    raise RuntimeError(f"FLOWGEN_TEST_BROKER must be redis or rabbitmq, got {kind!r}")


broker = make_broker()
broker.add_middleware(Prometheus())
broker.add_middleware(Seen())
dramatiq.set_broker(broker)

from tests.apps import dramatiq_workflows, faults  # noqa: E402,F401 - after the broker is set

FAST = {"lease_ttl": 2.0, "grace": 2.0, "reconcile_interval": 0.5}
engine = flowgen.Engine(
    os.environ["FLOWGEN_TEST_STORE_URL"],
    broker=broker,
    **(FAST if os.environ.get("FLOWGEN_TEST_FAST") else {}),
)
dramatiq_workflows.engine = engine
