"""Prometheus metrics (the ``[metrics]`` extra, ``prometheus-client``); every metric is in docs/observability.md.

Two kinds:

* **counters and histograms** of what this process did (runs started and finished, step
  attempts, latencies, leases lost, ...), recorded by :class:`Metrics`, an observer of the
  engine (:func:`instrument`);
* **state gauges** (runs by status, queue backlog age, runs with a timer, timers due) read from
  the store at each scrape by :class:`StoreCollector`: they are the same whatever process
  exports them and however many there are, at the cost of one pipelined Redis round trip.

Labels are bounded: workflow and step names that are registered in this process (anything else
is ``"other"``: a run's stored workflow name is data, not a label), outcomes and statuses. Run
ids are never labels.

Across the processes of ``flowgen worker --processes N`` the supervisor serves one endpoint: its
children write their counters to a private directory in prometheus-client's multiprocess mode
(:func:`multiprocess_directory`), which the supervisor aggregates at each scrape.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ..decorators import Registry
from ..errors import ConfigurationError
from ..urls import mask_url
from .observer import ATTEMPT_OUTCOMES, AttemptEnded, Observer, RunEnded, RunStarted, WaitEnded

if TYPE_CHECKING:
    from ..engine import Engine

DEFAULT_HOST = "127.0.0.1"
"""Metrics endpoints listen on the loopback interface unless told otherwise."""

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The variable that puts prometheus-client in multiprocess mode (read when it is imported)."""

OTHER = "other"
"""The label of a workflow or step name this process has not registered."""

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
JOURNAL_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

registry = CollectorRegistry()
"""flowgen's metrics of this process; expose it on an endpoint of your own, or use :func:`serve`."""

RUNS_STARTED = Counter(
    "flowgen_runs_started", "Runs that left the queue (their first advance)", ["workflow"], registry=registry
)
RUNS_COMPLETED = Counter("flowgen_runs_completed", "Runs that completed", ["workflow"], registry=registry)
RUNS_FAILED = Counter("flowgen_runs_failed", "Runs that failed", ["workflow"], registry=registry)
RUNS_CANCELLED = Counter(
    "flowgen_runs_cancelled", "Runs that ended cancelled", ["workflow"], registry=registry
)
STEP_ATTEMPTS = Counter(
    "flowgen_step_attempts",
    "Step attempts whose outcome is journaled, by outcome (succeeded, failed, timed_out)",
    ["workflow", "step", "outcome"],
    registry=registry,
)
STEP_DURATION = Histogram(
    "flowgen_step_attempt_duration_seconds",
    "Wall time of a step attempt",
    ["workflow", "step"],
    buckets=LATENCY_BUCKETS,
    registry=registry,
)
SCHEDULE_TO_START = Histogram(
    "flowgen_schedule_to_start_seconds",
    "From a run's creation to its first advance",
    ["workflow"],
    buckets=LATENCY_BUCKETS,
    registry=registry,
)
TIMER_LATENESS = Histogram(
    "flowgen_timer_lateness_seconds",
    "How long after its due time a sleep resumed",
    ["workflow"],
    buckets=LATENCY_BUCKETS,
    registry=registry,
)
EVENTS_RECEIVED = Counter(
    "flowgen_events_received", "send_event calls this process made that were accepted", registry=registry
)
EVENTS_DUPLICATE = Counter(
    "flowgen_events_duplicate", "send_event calls ignored as duplicates of an event id", registry=registry
)
EVENTS_DELIVERED = Counter(
    "flowgen_events_delivered", "Events a waiting run received", ["workflow"], registry=registry
)
LEASES_LOST = Counter(
    "flowgen_leases_lost",
    "Runs this process was advancing when another worker took them over",
    ["workflow"],
    registry=registry,
)
REENQUEUED = Counter(
    "flowgen_reconciler_reenqueued",
    "Runs the reconciler enqueued again (their lease ended unrenewed)",
    registry=registry,
)
JOURNAL_LENGTH = Histogram(
    "flowgen_run_journal_entries",
    "Journal entries of a run when it finished",
    ["workflow"],
    buckets=JOURNAL_BUCKETS,
    registry=registry,
)


_ENDS = {"completed": RUNS_COMPLETED, "failed": RUNS_FAILED, "cancelled": RUNS_CANCELLED}


class Metrics(Observer):
    """Records the counters and histograms of the module docstring for one engine's facts."""

    def __init__(self, names: Registry) -> None:
        self.names = names
        self.collector: StoreCollector | None = None
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: prometheus-client's lookup costs more than the update."""
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def close(self) -> None:
        """Stop exporting the closed engine's state gauges (its store is gone)."""
        global _state_collector
        with _instrumented_lock:
            if self.collector is not None:
                registry.unregister(self.collector)
                if _state_collector is self.collector:
                    _state_collector = None
                self.collector = None

    def _workflow(self, name: str) -> str:
        return name if name in self.names.workflows else OTHER

    def _step(self, name: str) -> str:
        return name if name in self.names.steps else OTHER

    def run_started(self, fact: RunStarted) -> None:
        workflow = self._workflow(fact.workflow)
        self._child(RUNS_STARTED, workflow).inc()
        self._child(SCHEDULE_TO_START, workflow).observe(max(0.0, fact.started - fact.created))

    def attempt_ended(self, fact: AttemptEnded) -> None:
        workflow, step = self._workflow(fact.workflow), self._step(fact.step)
        outcome = fact.outcome if fact.outcome in ATTEMPT_OUTCOMES else OTHER
        self._child(STEP_ATTEMPTS, workflow, step, outcome).inc()
        self._child(STEP_DURATION, workflow, step).observe(max(0.0, fact.finished - fact.started))

    def wait_ended(self, fact: WaitEnded) -> None:
        workflow = self._workflow(fact.workflow)
        if fact.kind == "sleep" and fact.due is not None:
            self._child(TIMER_LATENESS, workflow).observe(max(0.0, fact.ended - fact.due))
        elif fact.kind == "event" and fact.ok:
            self._child(EVENTS_DELIVERED, workflow).inc()

    def run_ended(self, fact: RunEnded) -> None:
        workflow = self._workflow(fact.workflow)
        counter = _ENDS.get(fact.status)
        if counter is not None:
            self._child(counter, workflow).inc()
        self._child(JOURNAL_LENGTH, workflow).observe(fact.journal_length)

    def lease_lost(self, run_id: str, workflow: str) -> None:
        self._child(LEASES_LOST, self._workflow(workflow)).inc()

    def reenqueued(self, count: int) -> None:
        REENQUEUED.inc(count)

    def event_sent(self, run_id: str, event_type: str, delivered: bool) -> None:
        (EVENTS_RECEIVED if delivered else EVENTS_DUPLICATE).inc()


class StoreCollector(Collector):
    """The state gauges, read from an engine's store (and transport) at each collection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Any]:
        return []  # read nothing at registration: the store may not be reachable yet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self.engine.store.state_counts(self.engine.clock.now())
        runs = GaugeMetricFamily("flowgen_runs", "Runs by status, as the store has them", labels=["status"])
        for status, count in sorted(counts.runs.items()):
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily(
            "flowgen_runs_with_timer",
            "Runs with a timer: sleeping, waiting with a timeout or backing off before a retry",
            value=counts.timers,
        )
        yield GaugeMetricFamily(
            "flowgen_timers_due",
            "Timers whose time has passed that no poller has claimed yet",
            value=counts.timers_due,
        )
        yield GaugeMetricFamily(
            "flowgen_queue_backlog_seconds",
            "How long the oldest waiting advance message has waited",
            value=self.engine.transport.backlog(),
        )


_instrumented_lock = threading.Lock()
_state_collector: StoreCollector | None = None
"""The one engine whose state gauges :data:`registry` exports (two would repeat the series)."""


def instrument(engine: Engine, *, state: bool = True) -> Metrics:
    """Record ``engine``'s facts in :data:`registry`; with ``state``, also its store's state gauges.

    Idempotent per engine; the gauges stop when the engine closes. Returns the observer.

    Raises:
        ConfigurationError: ``state`` while another open engine's gauges are exported (the same
            series twice); instrument the others with ``state=False``.
    """
    global _state_collector
    with _instrumented_lock:
        existing = next((item for item in engine.observers.items if isinstance(item, Metrics)), None)
        if existing is not None:
            return existing
        if state and _state_collector is not None:
            raise ConfigurationError(
                "flowgen.metrics.registry already exports the state gauges of another open engine "
                f"({mask_url(_state_collector.engine.url)!r}); instrument this one with state=False"
            )
        metrics = Metrics(engine.registry)
        engine.observers.add(metrics)
        if state:
            metrics.collector = _state_collector = StoreCollector(engine)
            registry.register(metrics.collector)
        return metrics


def serve(port: int, host: str = DEFAULT_HOST, collectors_registry: CollectorRegistry | None = None) -> Any:
    """Serve ``collectors_registry`` (default :data:`registry`) on ``http://host:port/metrics``; return the server."""
    server, _thread = start_http_server(port, addr=host, registry=collectors_registry or registry)
    return server


def multiprocess_directory() -> str:
    """A new private directory (mode 0700) for the metric files of one supervisor's workers.

    Each supervisor gets its own, removed when it stops (:func:`remove_directory`): two worker
    groups on one machine never mix their counts, and a restart never reads stale files.
    """
    return tempfile.mkdtemp(prefix="flowgen-metrics-")


def remove_directory(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def supervisor_registry(directory: str, engine: Engine) -> CollectorRegistry:
    """What a supervisor serves: its workers' counters aggregated from ``directory``, and the state gauges."""
    aggregated = CollectorRegistry()
    MultiProcessCollector(aggregated, path=directory)  # type: ignore[no-untyped-call]
    aggregated.register(StoreCollector(engine))
    return aggregated


def in_multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))
