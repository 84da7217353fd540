"""The summary page's report: runs by status, throughput and failure rate per minute.

The per-minute figures come from the store, so they are right whatever number of processes
advanced the runs: the newest :data:`SAMPLE` completed and the newest :data:`SAMPLE` failed
runs, bucketed by the minute they finished, over the last :data:`WINDOW_MINUTES` minutes. The
page says when the sample is full (more finished runs than it holds): the figures are then a
lower bound, and the Prometheus metrics (see docs/observability.md) are the complete record.
"""

from __future__ import annotations

import attrs

from ..engine import Engine
from ..status import RunStatus
from . import listing

SAMPLE = 2000
WINDOW_MINUTES = 60


@attrs.frozen
class Minute:
    """One bar of the charts."""

    start: float
    completed: int
    failed: int

    @property
    def failure_rate(self) -> float:
        """Failed runs as a share of the runs that finished in this minute (0 when none did)."""
        total = self.completed + self.failed
        return self.failed / total if total else 0.0


@attrs.frozen
class SummaryReport:
    """What the summary page shows."""

    counts: dict[str, int]
    minutes: tuple[Minute, ...]
    sample_full: bool

    @property
    def peak(self) -> int:
        """The most runs finished in one minute of the window (for the chart's scale)."""
        return max([m.completed + m.failed for m in self.minutes] + [1])


def report(engine: Engine, now: float) -> SummaryReport:
    """Build the report at ``now`` (Unix seconds)."""
    counts = listing.counts(engine, listing.Filters())
    first = (int(now // 60) - WINDOW_MINUTES + 1) * 60
    completed = [0] * WINDOW_MINUTES
    failed = [0] * WINDOW_MINUTES
    full = False
    for status, bucket in ((RunStatus.COMPLETED, completed), (RunStatus.FAILED, failed)):
        runs = engine.runs(status=status, limit=SAMPLE)
        full = full or len(runs) == SAMPLE
        for info in runs:
            if info.finished is None:
                continue
            index = int((info.finished.timestamp() - first) // 60)
            if 0 <= index < WINDOW_MINUTES:
                bucket[index] += 1
    minutes = tuple(Minute(first + 60 * i, completed[i], failed[i]) for i in range(WINDOW_MINUTES))
    return SummaryReport(counts, minutes, full)
