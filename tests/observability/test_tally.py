"""The process-local tally behind the counters: buckets, sums across processes, snapshot files."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from flowgen.observability import tally as t
from flowgen.observability.metrics import TallyCollector


def exposed(snapshots: list[t.Snapshot]) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(TallyCollector(lambda: snapshots))
    samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_an_observation_on_a_bound_counts_in_that_bucket_and_histograms_are_cumulative() -> None:
    tally = t.Tally()
    for value in (0.001, 0.0011, 7.0, 10_000.0):
        tally.observe(t.STEP_DURATION, ("wf", "s"), value)
    samples = exposed([tally.snapshot()])
    name = "flowgen_step_attempt_duration_seconds"

    def bucket(le: str) -> float:
        return samples[(f"{name}_bucket", (("le", le), ("step", "s"), ("workflow", "wf")))]

    assert bucket("0.001") == 1  # le is inclusive, as Prometheus means it
    assert bucket("0.005") == 2
    assert bucket("5.0") == 2
    assert bucket("10.0") == 3
    assert bucket("3600.0") == 3
    assert bucket("+Inf") == 4
    assert samples[(f"{name}_count", (("step", "s"), ("workflow", "wf")))] == 4
    assert samples[(f"{name}_sum", (("step", "s"), ("workflow", "wf")))] == 0.001 + 0.0011 + 7.0 + 10_000.0


def test_snapshots_of_several_processes_add_up() -> None:
    first, second = t.Tally(), t.Tally()
    first.inc(t.RUNS_STARTED, ("wf",), 3)
    second.inc(t.RUNS_STARTED, ("wf",), 4)
    second.inc(t.RUNS_STARTED, ("other",))
    first.observe(t.JOURNAL_LENGTH, ("wf",), 3)
    second.observe(t.JOURNAL_LENGTH, ("wf",), 5)
    samples = exposed([first.snapshot(), second.snapshot()])
    assert samples[("flowgen_runs_started_total", (("workflow", "wf"),))] == 7
    assert samples[("flowgen_runs_started_total", (("workflow", "other"),))] == 1
    assert samples[("flowgen_run_journal_entries_count", (("workflow", "wf"),))] == 2
    assert samples[("flowgen_run_journal_entries_sum", (("workflow", "wf"),))] == 8


def test_snapshot_files_round_trip_and_malformed_ones_are_skipped(tmp_path: Path) -> None:
    tally = t.Tally()
    tally.inc(t.REENQUEUED, (), 2)
    writer = t.SnapshotWriter(tally, str(tmp_path), interval=3600)
    writer.start()
    tally.inc(t.REENQUEUED, (), 1)
    writer.stop()  # the last snapshot is written when the writer stops
    (tmp_path / f"1{t.SNAPSHOT_SUFFIX}").write_text("not json")
    (tmp_path / f"2{t.SNAPSHOT_SUFFIX}").write_text(
        json.dumps(
            {"flowgen_reconciler_reenqueued": [[[], ["x"]]], "flowgen_runs_started": [[["a", "b"], [1]]]}
        )
    )
    snapshots = t.read_directory(str(tmp_path))
    samples = exposed(snapshots)
    assert samples[("flowgen_reconciler_reenqueued_total", ())] == 3
    assert not any(name == "flowgen_runs_started_total" for name, _ in samples)


def test_a_worker_that_reuses_a_dead_workers_pid_does_not_replace_its_counts(tmp_path: Path) -> None:
    dead, reborn = t.Tally(), t.Tally()
    dead.inc(t.RUNS_STARTED, ("wf",), 5)
    first = t.SnapshotWriter(dead, str(tmp_path))
    first.write()  # and the process is killed: its file stays
    reborn.inc(t.RUNS_STARTED, ("wf",), 1)
    t.SnapshotWriter(reborn, str(tmp_path)).write()  # a new worker with the same pid (this one)
    total = t.merge(t.read_directory(str(tmp_path)))
    assert total[t.RUNS_STARTED.name][("wf",)] == [6.0]
