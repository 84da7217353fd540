"""``run.started`` / ``flowgen_runs_started``: once per run, by the advance that first commits,
with the schedule-to-start latency measured from when the run was due to start."""

from __future__ import annotations

from pathlib import Path

import pytest

import flowgen
import flowgen.metrics
from tests.conftest import wait_until
from tests.observability.test_counters import sample


@flowgen.step(retries=0)
def rs_ok() -> int:
    return 1


@flowgen.workflow
def rs_flow():
    return (yield rs_ok())


def test_a_run_paused_before_its_first_advance_is_started_once(tmp_path: Path) -> None:
    started: list[object] = []
    before = sample("flowgen_runs_started_total", workflow="rs_flow")
    with flowgen.Engine(f"sqlite:///{tmp_path / 'rs.db'}", tracing=False, start_workers=False) as engine:
        flowgen.metrics.instrument(engine, state=False)
        engine.on("run.started", started.append)
        run = engine.start(rs_flow, run_id="paused-first")
        engine.pause("paused-first")
        engine.runtime.advance("paused-first")  # its message arrives while it is paused: nothing to do
        assert run.status().status == "paused"
        engine.resume("paused-first")
        engine.runtime.advance("paused-first")
        assert run.status().status == "completed"
    assert [fact.run_id for fact in started] == ["paused-first"]  # type: ignore[attr-defined]
    assert sample("flowgen_runs_started_total", workflow="rs_flow") == before + 1


def test_a_run_handed_back_by_a_stopping_worker_is_started_once(tmp_path: Path) -> None:
    started: list[object] = []
    with flowgen.Engine(f"sqlite:///{tmp_path / 'rs.db'}", tracing=False, start_workers=False) as engine:
        engine.on("run.started", started.append)
        run = engine.start(rs_flow, run_id="handed-back")
        engine.runtime.draining.set()  # a worker stopping: it journals nothing and gives the run back
        engine.runtime.advance("handed-back")
        assert not run.status().is_finished and run.journal() == []
        engine.runtime.draining.clear()  # the next worker
        engine.runtime.advance("handed-back")
        assert run.status().status == "completed"
    assert [fact.run_id for fact in started] == ["handed-back"]  # type: ignore[attr-defined]


def test_schedule_to_start_of_a_delayed_run_counts_from_its_start_time_not_its_creation() -> None:
    started: list[object] = []
    before = sample("flowgen_schedule_to_start_seconds_sum", workflow="rs_flow")
    with flowgen.Engine("memory://", tracing=False) as engine:
        flowgen.metrics.instrument(engine, state=False)
        engine.on("run.started", started.append)
        run = engine.start(rs_flow, run_id="delayed", delay=0.5)
        assert run.result(timeout=30) == 1
        fact = wait_until(lambda: started and started[0], 10, "the run.started hook")
    assert fact.scheduled == pytest.approx(fact.created + 0.5)
    observed = sample("flowgen_schedule_to_start_seconds_sum", workflow="rs_flow") - before
    assert observed == pytest.approx(fact.started - fact.scheduled)
