"""flowgen inside a Dramatiq app, as ``dramatiq benchmarks.app_broker_app`` runs it.

The app's broker is a plain Dramatiq ``RedisBroker`` with Dramatiq's default middleware (no
doorbell, no batched acks), or a ``RabbitmqBroker`` when ``FLOWGEN_BENCH_APP_BROKER_URL`` names
one (``amqp://...``); flowgen is added with ``Engine(url, broker=broker)``, so the
``dramatiq`` CLI workers advance the benchmark's workflows (:mod:`benchmarks.apps`).
"""

from __future__ import annotations

import os

import dramatiq

import flowgen
from benchmarks.app_broker import app_broker

URL = os.environ.get("FLOWGEN_BENCH_REDIS_URL")
if not URL:
    # Never fall back to a developer's Redis: the benchmark flushes its database.
    raise RuntimeError(
        "benchmarks.app_broker_app needs $FLOWGEN_BENCH_REDIS_URL (python -m benchmarks sets it)"
    )
broker = app_broker(URL)
dramatiq.set_broker(broker)

from benchmarks import apps  # noqa: E402,F401 - the workflows, after the broker is set

engine = flowgen.Engine(URL, broker=broker)
