"""Process-local counts of flowgen's counters and histograms, cheap to update, easy to sum.

Recording a fact must cost a worker little: an update here is a dictionary lookup and an
addition under one lock, with no per-value lock, no memory-mapped file and no label lookup of
prometheus-client's. What is counted is exposed at collection time (:mod:`.metrics`) from a
:meth:`Tally.snapshot`: this process's own, or, for a supervisor, the sum of the snapshots its
workers write to a private directory (:class:`SnapshotWriter`, every :data:`FLUSH_INTERVAL`
seconds and when they stop).

No optional library is imported here.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Sequence

import attrs

logger = logging.getLogger("flowgen.metrics")

FLUSH_INTERVAL = 0.5
"""Seconds between two snapshots a supervised worker writes (what a scrape may lag behind)."""

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
JOURNAL_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


@attrs.frozen
class Definition:
    """One metric: its name (without ``_total``), type, help, label names and histogram buckets."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


def _counter(name: str, help: str, *labels: str) -> Definition:
    return Definition(name, "counter", help, labels)


def _histogram(name: str, help: str, buckets: tuple[float, ...], *labels: str) -> Definition:
    return Definition(name, "histogram", help, labels, buckets)


RUNS_STARTED = _counter("flowgen_runs_started", "Runs that left the queue (their first advance)", "workflow")
RUNS_COMPLETED = _counter("flowgen_runs_completed", "Runs that completed", "workflow")
RUNS_FAILED = _counter("flowgen_runs_failed", "Runs that failed", "workflow")
RUNS_CANCELLED = _counter("flowgen_runs_cancelled", "Runs that ended cancelled", "workflow")
STEP_ATTEMPTS = _counter(
    "flowgen_step_attempts",
    "Step attempts whose outcome is journaled, by outcome (succeeded, failed, timed_out)",
    "workflow",
    "step",
    "outcome",
)
STEP_DURATION = _histogram(
    "flowgen_step_attempt_duration_seconds",
    "Wall time of a step attempt",
    LATENCY_BUCKETS,
    "workflow",
    "step",
)
SCHEDULE_TO_START = _histogram(
    "flowgen_schedule_to_start_seconds",
    "From when a run was due to start (its creation, or its start_at) to its first advance",
    LATENCY_BUCKETS,
    "workflow",
)
TIMER_LATENESS = _histogram(
    "flowgen_timer_lateness_seconds",
    "How long after its due time a sleep resumed",
    LATENCY_BUCKETS,
    "workflow",
)
EVENTS_RECEIVED = _counter("flowgen_events_received", "send_event calls this process made that were accepted")
EVENTS_DUPLICATE = _counter(
    "flowgen_events_duplicate", "send_event calls ignored as duplicates of an event id"
)
EVENTS_DELIVERED = _counter("flowgen_events_delivered", "Events a waiting run received", "workflow")
LEASES_LOST = _counter(
    "flowgen_leases_lost", "Runs this process was advancing when another worker took them over", "workflow"
)
REENQUEUED = _counter(
    "flowgen_reconciler_reenqueued", "Runs the reconciler enqueued again (their lease ended unrenewed)"
)
JOURNAL_LENGTH = _histogram(
    "flowgen_run_journal_entries", "Journal entries of a run when it finished", JOURNAL_BUCKETS, "workflow"
)

DEFINITIONS = (
    RUNS_STARTED,
    RUNS_COMPLETED,
    RUNS_FAILED,
    RUNS_CANCELLED,
    STEP_ATTEMPTS,
    STEP_DURATION,
    SCHEDULE_TO_START,
    TIMER_LATENESS,
    EVENTS_RECEIVED,
    EVENTS_DUPLICATE,
    EVENTS_DELIVERED,
    LEASES_LOST,
    REENQUEUED,
    JOURNAL_LENGTH,
)
BY_NAME = {definition.name: definition for definition in DEFINITIONS}

Snapshot = dict[str, dict[tuple[str, ...], list[float]]]
"""Metric name -> label values -> ``[value]`` for a counter, ``[count per bucket..., +Inf, sum]``
for a histogram (buckets not cumulative)."""


class Tally:
    """The counts of one process; safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Snapshot = {definition.name: {} for definition in DEFINITIONS}

    def inc(self, metric: Definition, labels: tuple[str, ...] = (), amount: float = 1.0) -> None:
        with self._lock:
            series = self._values[metric.name]
            cell = series.get(labels)
            if cell is None:
                series[labels] = [amount]
            else:
                cell[0] += amount

    def observe(self, metric: Definition, labels: tuple[str, ...], value: float) -> None:
        index = bisect.bisect_left(metric.buckets, value)  # the first bucket whose bound is >= value
        with self._lock:
            series = self._values[metric.name]
            cell = series.get(labels)
            if cell is None:
                cell = series[labels] = [0.0] * (len(metric.buckets) + 2)
            cell[index] += 1
            cell[-1] += value

    def snapshot(self) -> Snapshot:
        """A copy of every count so far."""
        with self._lock:
            return {
                name: {labels: list(cell) for labels, cell in series.items()}
                for name, series in self._values.items()
            }


def merge(snapshots: Iterable[Snapshot]) -> Snapshot:
    """The sum of several processes' snapshots (series by series, cell by cell)."""
    total: Snapshot = {definition.name: {} for definition in DEFINITIONS}
    for snapshot in snapshots:
        for name, series in snapshot.items():
            if name not in total:
                continue
            target = total[name]
            for labels, cell in series.items():
                existing = target.get(labels)
                if existing is None:
                    target[labels] = list(cell)
                elif len(existing) == len(cell):
                    for index, amount in enumerate(cell):
                        existing[index] += amount
    return total


def encode(snapshot: Snapshot) -> str:
    return json.dumps(
        {name: [[list(labels), cell] for labels, cell in series.items()] for name, series in snapshot.items()}
    )


def decode(text: str) -> Snapshot:
    """Read a snapshot file; what does not have the expected shape is skipped (the file is data)."""
    data = json.loads(text)
    snapshot: Snapshot = {}
    if not isinstance(data, dict):
        return snapshot
    for name, series in data.items():
        definition = BY_NAME.get(name)
        if definition is None or not isinstance(series, list):
            continue
        width = 1 if definition.kind == "counter" else len(definition.buckets) + 2
        cells: dict[tuple[str, ...], list[float]] = {}
        for item in series:
            if (
                isinstance(item, list)
                and len(item) == 2
                and isinstance(item[0], list)
                and len(item[0]) == len(definition.labels)
                and all(isinstance(label, str) for label in item[0])
                and isinstance(item[1], list)
                and len(item[1]) == width
                and all(isinstance(amount, (int, float)) for amount in item[1])
            ):
                cells[tuple(item[0])] = [float(amount) for amount in item[1]]
        snapshot[name] = cells
    return snapshot


SNAPSHOT_SUFFIX = ".flowgen-metrics.json"


def read_directory(directory: str) -> list[Snapshot]:
    """Every worker's last snapshot in ``directory`` (one file per worker process)."""
    snapshots = []
    try:
        names: Sequence[str] = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        if not name.endswith(SNAPSHOT_SUFFIX):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as file:
                snapshots.append(decode(file.read()))
        except (OSError, ValueError):
            logger.warning("skipping the unreadable metrics snapshot %s", name)
    return snapshots


class SnapshotWriter:
    """Writes a tally's snapshot to ``directory`` every :data:`FLUSH_INTERVAL` seconds, and when stopped.

    The file (``<pid>-<random>.flowgen-metrics.json``) is replaced atomically, so a reader never
    sees half of one. It stays after the process exits: a restarted worker's counts keep adding
    up. The random part is the writer's own: a new worker that gets the pid of a dead one (pids
    are reused) writes a file of its own instead of replacing the dead one's counts with its
    own (the sum would go down, which Prometheus takes for a counter reset).
    """

    def __init__(self, tally: Tally, directory: str, interval: float = FLUSH_INTERVAL) -> None:
        self.tally = tally
        self.path = os.path.join(directory, f"{os.getpid()}-{uuid.uuid4().hex[:12]}{SNAPSHOT_SUFFIX}")
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flowgen-metrics-writer", daemon=True)

    def start(self) -> None:
        self.write()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def write(self) -> None:
        temporary = f"{self.path}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as file:
                file.write(encode(self.tally.snapshot()))
            os.replace(temporary, self.path)
        except OSError as error:
            logger.warning("cannot write the metrics snapshot %s: %s", self.path, error)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.write()
