"""The counters the 100-run worker test does not reach: events, leases lost, reconciler re-enqueues."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import flowgen
import flowgen.metrics
from flowgen.observability.metrics import Metrics
from flowgen.observability.observer import Observers
from flowgen.services import Services
from flowgen.stores.memory import MemoryStore
from tests.apps import observed
from tests.stores.support import GRACE, TTL, T, created


def sample(name: str, **labels: str) -> float:
    text = generate_latest(flowgen.metrics.registry).decode()
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def test_events_received_duplicate_and_delivered_are_counted() -> None:
    before = (
        sample("flowgen_events_received_total"),
        sample("flowgen_events_duplicate_total"),
        sample("flowgen_events_delivered_total", workflow="awaiting"),
    )
    with flowgen.Engine("memory://", tracing=False) as engine:
        flowgen.metrics.instrument(engine, state=False)
        run = engine.start(observed.awaiting)
        assert run.send_event("go", 1, event_id="e-1") is True
        assert run.send_event("go", 1, event_id="e-1") is False  # the same id: a duplicate
        assert run.result(timeout=10) == 1
    after = (
        sample("flowgen_events_received_total"),
        sample("flowgen_events_duplicate_total"),
        sample("flowgen_events_delivered_total", workflow="awaiting"),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


class _Clock:
    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value


def test_the_reconciler_reports_the_runs_it_enqueues_again() -> None:
    store = MemoryStore()
    created(store, "stuck")
    assert store.acquire("stuck", "dead-worker", TTL, T) is not None  # and the worker dies
    counted: list[int] = []
    enqueued: list[str] = []
    clock = _Clock(T + TTL + GRACE + 1)
    services = Services(store, enqueued.extend, clock, grace=GRACE, reenqueued=counted.append)
    services.reconcile()
    assert enqueued == ["stuck"]
    assert counted == [1]


def test_leases_lost_and_reenqueues_reach_their_counters() -> None:
    registry = flowgen.registry
    observers = Observers()
    observers.add(Metrics(registry))
    lost, reenqueued = (
        sample("flowgen_leases_lost_total", workflow="observed"),
        sample("flowgen_reconciler_reenqueued_total"),
    )
    observers.lease_lost("r", "observed")
    observers.lease_lost("r", "a name nobody registered")
    observers.reenqueued(3)
    assert sample("flowgen_leases_lost_total", workflow="observed") == lost + 1
    assert sample("flowgen_leases_lost_total", workflow="other") >= 1  # unknown names are not labels
    assert sample("flowgen_reconciler_reenqueued_total") == reenqueued + 3
