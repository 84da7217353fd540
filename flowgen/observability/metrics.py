"""Prometheus metrics (the ``[metrics]`` extra, ``prometheus-client``); every metric is in docs/observability.md.

Two kinds:

* **counters and histograms** of what this process did (runs started and finished, step
  attempts, latencies, leases lost, ...), counted by :class:`Metrics`, an observer of the
  engine (:func:`instrument`), in the process's :data:`tally` (:mod:`.tally`: one lock and a
  dictionary, far cheaper per fact than prometheus-client's own metric objects), and exposed by
  :class:`TallyCollector` at collection time;
* **state gauges** (runs by status, queue backlog age, runs with a timer, timers due) read from
  the store at each scrape by :class:`StoreCollector`: they are the same whatever process
  exports them and however many there are, at the cost of one pipelined Redis round trip.

Labels are bounded: workflow and step names that are registered in this process (anything else
is ``"other"``: a run's stored workflow name is data, not a label), outcomes and statuses. Run
ids are never labels.

Across the processes of ``flowgen worker --processes N`` the supervisor serves one endpoint: its
workers write snapshots of their tally to a private directory (:func:`metrics_directory`,
:func:`write_snapshots`), which the supervisor sums at each scrape (:func:`supervisor_registry`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

try:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    from prometheus_client.registry import Collector
except ImportError as missing:  # the [metrics] extra is not installed: say which one
    raise ModuleNotFoundError(
        f"flowgen's metrics need prometheus-client ({missing}); pip install 'dramatiq-flowgen[metrics]'",
        name="prometheus_client",
    ) from None

from ..decorators import Registry
from ..errors import ConfigurationError
from ..urls import mask_url
from . import tally as t
from .observer import ATTEMPT_OUTCOMES, AttemptEnded, Observer, RunEnded, RunStarted, WaitEnded

if TYPE_CHECKING:
    from ..engine import Engine

DEFAULT_HOST = "127.0.0.1"
"""Metrics endpoints listen on the loopback interface unless told otherwise."""

METRICS_DIR_ENV = "FLOWGEN_METRICS_DIR"
"""Set by a supervisor for its workers: the private directory they write their snapshots to."""

OTHER = "other"
"""The label of a workflow or step name this process has not registered."""

tally = t.Tally()
"""What this process counted (every instrumented engine of the process adds to it)."""


class TallyCollector(Collector):
    """Exposes summed tally snapshots as Prometheus counters and histograms."""

    def __init__(self, snapshots: Callable[[], list[t.Snapshot]]) -> None:
        self.snapshots = snapshots

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        total = t.merge(self.snapshots())
        for definition in t.DEFINITIONS:
            series = total.get(definition.name, {})
            if definition.kind == "counter":
                counter = CounterMetricFamily(definition.name, definition.help, labels=definition.labels)
                for labels, cell in sorted(series.items()):
                    counter.add_metric(list(labels), cell[0])
                yield counter
                continue
            histogram = HistogramMetricFamily(definition.name, definition.help, labels=definition.labels)
            bounds = [*(repr(float(bound)) for bound in definition.buckets), "+Inf"]
            for labels, cell in sorted(series.items()):
                cumulative, running = [], 0.0
                for bound, count in zip(bounds, cell[:-1], strict=True):
                    running += count
                    cumulative.append((bound, running))
                histogram.add_metric(list(labels), cumulative, cell[-1])
            yield histogram


registry = CollectorRegistry()
"""flowgen's metrics of this process; expose it on an endpoint of your own, or use :func:`serve`."""
registry.register(TallyCollector(lambda: [tally.snapshot()]))

_ENDS = {"completed": t.RUNS_COMPLETED, "failed": t.RUNS_FAILED, "cancelled": t.RUNS_CANCELLED}


class Metrics(Observer):
    """Counts one engine's facts in :data:`tally` (see the module docstring)."""

    def __init__(self, names: Registry) -> None:
        self.names = names
        self.collector: StoreCollector | None = None
        self.writer: t.SnapshotWriter | None = None

    def close(self) -> None:
        """Stop exporting the closed engine's state gauges (its store is gone); write a last snapshot."""
        global _state_collector
        with _instrumented_lock:
            if self.collector is not None:
                registry.unregister(self.collector)
                if _state_collector is self.collector:
                    _state_collector = None
                self.collector = None
            if self.writer is not None:
                self.writer.stop()
                self.writer = None

    def _workflow(self, name: str) -> str:
        return name if name in self.names.workflows else OTHER

    def _step(self, name: str) -> str:
        return name if name in self.names.steps else OTHER

    def run_started(self, fact: RunStarted) -> None:
        labels = (self._workflow(fact.workflow),)
        tally.inc(t.RUNS_STARTED, labels)
        scheduled = fact.scheduled if fact.scheduled is not None else fact.created
        tally.observe(t.SCHEDULE_TO_START, labels, max(0.0, fact.started - scheduled))

    def attempt_ended(self, fact: AttemptEnded) -> None:
        workflow, step = self._workflow(fact.workflow), self._step(fact.step)
        outcome = fact.outcome if fact.outcome in ATTEMPT_OUTCOMES else OTHER
        tally.inc(t.STEP_ATTEMPTS, (workflow, step, outcome))
        tally.observe(t.STEP_DURATION, (workflow, step), max(0.0, fact.finished - fact.started))

    def wait_ended(self, fact: WaitEnded) -> None:
        labels = (self._workflow(fact.workflow),)
        if fact.kind == "sleep" and fact.due is not None and not fact.branch:
            # A branch sleep ends at its due time (the journal says no more): no lateness to tell.
            tally.observe(t.TIMER_LATENESS, labels, max(0.0, fact.ended - fact.due))
        elif fact.kind == "event" and fact.ok:
            tally.inc(t.EVENTS_DELIVERED, labels)

    def run_ended(self, fact: RunEnded) -> None:
        labels = (self._workflow(fact.workflow),)
        counter = _ENDS.get(fact.status)
        if counter is not None:
            tally.inc(counter, labels)
        tally.observe(t.JOURNAL_LENGTH, labels, fact.journal_length)

    def lease_lost(self, run_id: str, workflow: str) -> None:
        tally.inc(t.LEASES_LOST, (self._workflow(workflow),))

    def reenqueued(self, count: int) -> None:
        tally.inc(t.REENQUEUED, (), count)

    def event_sent(self, run_id: str, event_type: str, delivered: bool) -> None:
        tally.inc(t.EVENTS_RECEIVED if delivered else t.EVENTS_DUPLICATE)


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


def metrics_directory() -> str:
    """A new private directory (mode 0700) for the snapshots of one supervisor's workers.

    Each supervisor gets its own, removed when it stops (:func:`remove_directory`): two worker
    groups on one machine never mix their counts, and a restart never reads stale files.
    """
    return tempfile.mkdtemp(prefix="flowgen-metrics-")


def remove_directory(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def supervisor_registry(directory: str, engine: Engine) -> CollectorRegistry:
    """What a supervisor serves: the sum of its workers' snapshots in ``directory``, and the state gauges."""
    aggregated = CollectorRegistry()
    aggregated.register(TallyCollector(lambda: t.read_directory(directory)))
    aggregated.register(StoreCollector(engine))
    return aggregated


def write_snapshots(engine: Engine) -> Metrics:
    """Count ``engine``'s facts and write them where the supervisor reads them (``$FLOWGEN_METRICS_DIR``).

    The last snapshot is written when the engine closes (a graceful stop); a worker killed
    outright loses at most :data:`~.tally.FLUSH_INTERVAL` seconds of counts.

    Raises:
        ConfigurationError: the variable does not name a directory.
    """
    directory = os.environ.get(METRICS_DIR_ENV, "")
    if not directory or not os.path.isdir(directory):
        raise ConfigurationError(
            f"${METRICS_DIR_ENV} must name the supervisor's metrics directory, got {directory!r}"
        )
    metrics = instrument(engine, state=False)
    if metrics.writer is None:
        metrics.writer = t.SnapshotWriter(tally, directory)
        metrics.writer.start()
    return metrics
