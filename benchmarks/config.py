"""Benchmark sizes: how many runs, probes and sleepers each measurement uses."""

from __future__ import annotations

import attrs


@attrs.frozen
class Size:
    """How big each measurement is.

    Attributes:
        name: ``tiny`` (the test suite's smoke run), ``small`` (a quick look) or ``full``.
        runs: workflow runs (and raw messages) per throughput repetition.
        probes: sequential start-to-result probes per latency repetition.
        probe_gap: seconds between probes, drawn uniformly from this range, so each probe
            starts on a system that has been idle for a while (which is when Dramatiq's
            consumer back-off shows).
        steps: workflow lengths for the per-step cost figures (shortest first).
        step_budget: steps per repetition and length: ``max(1, step_budget // k)`` runs of k steps.
        sleepers: long sleeping runs for the memory figures.
        sleeper_checkpoints: how many times memory is read while the sleepers are started.
        late_sleepers: 1-second sleepers per lateness repetition (started among the sleepers).
        retention_runs: completed runs for the retention figure.
        queued_messages: raw Dramatiq messages left queued for the baseline memory figure.
        backlog_runs: 3-step runs queued at once for the backlog figures (workers run with a
            ``grace`` a fifth of the time they take, so every run waits several grace periods).
    """

    name: str
    runs: int
    probes: int
    probe_gap: tuple[float, float]
    steps: tuple[int, ...]
    step_budget: int
    sleepers: int
    sleeper_checkpoints: int
    late_sleepers: int
    retention_runs: int
    queued_messages: int
    backlog_runs: int


SIZES = {
    "tiny": Size(
        name="tiny",
        runs=300,
        probes=8,
        probe_gap=(0.0, 0.02),
        steps=(3, 10, 30),
        step_budget=60,
        sleepers=1500,
        sleeper_checkpoints=2,
        late_sleepers=30,
        retention_runs=100,
        queued_messages=300,
        backlog_runs=300,
    ),
    "small": Size(
        name="small",
        runs=3000,
        probes=40,
        probe_gap=(0.02, 0.1),
        steps=(3, 100, 1000),
        step_budget=1000,
        sleepers=20_000,
        sleeper_checkpoints=3,
        late_sleepers=300,
        retention_runs=1000,
        queued_messages=3000,
        backlog_runs=3000,
    ),
    "full": Size(
        name="full",
        runs=10_000,
        probes=100,
        probe_gap=(0.02, 0.1),
        steps=(3, 100, 1000),
        step_budget=3000,
        sleepers=100_000,
        sleeper_checkpoints=4,
        late_sleepers=1000,
        retention_runs=2000,
        queued_messages=10_000,
        backlog_runs=10_000,
    ),
}
