"""``cancel(force=True)`` ends a run without an advance: the process that terminates it reports
the end, exactly once (counter, ``run.cancelled`` hook, run span), and a worker that was advancing
the run (fenced off by the termination) reports nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flowgen
import flowgen.metrics
from tests.apps import observed
from tests.conftest import wait_until
from tests.observability.test_counters import sample
from tests.observability.test_worker_metrics import free_port, scrape, value

RELEASE = threading.Event()
ENTERED = threading.Event()


@flowgen.step(retries=0)
def fc_blocking() -> str:
    ENTERED.set()
    RELEASE.wait(30)
    return "too late"


@flowgen.workflow
def fc_busy():
    return (yield fc_blocking())


def test_a_forced_cancel_of_a_waiting_run_is_counted_hooked_and_traced_once(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    cancelled: list[object] = []
    before = sample("flowgen_runs_cancelled_total", workflow="awaiting")
    with flowgen.Engine(f"sqlite:///{tmp_path / 'fc.db'}", tracing=True) as engine:
        flowgen.metrics.instrument(engine, state=False)
        engine.on("run.cancelled", cancelled.append)
        run = engine.start(observed.awaiting, run_id="forced-waiting")
        wait_until(lambda: run.status().status == "waiting", 20, "the run to wait for its event")
        assert run.cancel(force=True).status == "cancelled"
        assert run.cancel(force=True).status == "cancelled"  # again: a no-op, reported nothing
        engine.cancel("forced-waiting")  # a plain cancel of a cancelled run is a no-op too
    assert sample("flowgen_runs_cancelled_total", workflow="awaiting") == before + 1
    assert [fact.run_id for fact in cancelled] == ["forced-waiting"]  # type: ignore[attr-defined]
    assert cancelled[0].status == "cancelled"  # type: ignore[attr-defined]
    run_spans = [span for span in spans.get_finished_spans() if span.name == "run awaiting"]
    assert len(run_spans) == 1
    assert run_spans[0].attributes["flowgen.status"] == "cancelled"


def test_the_worker_advancing_a_terminated_run_does_not_count_it_again(tmp_path: Path) -> None:
    RELEASE.clear()
    ENTERED.clear()
    before = sample("flowgen_runs_cancelled_total", workflow="fc_busy")
    lost = sample("flowgen_leases_lost_total", workflow="fc_busy")
    ended: list[object] = []
    with flowgen.Engine(f"sqlite:///{tmp_path / 'fc.db'}", tracing=False) as engine:
        flowgen.metrics.instrument(engine, state=False)
        engine.on("run.finished", ended.append)
        run = engine.start(fc_busy, run_id="forced-busy")
        assert ENTERED.wait(30), "the step never started"
        assert run.cancel(force=True).status == "cancelled"
        RELEASE.set()  # the step returns; its worker's commit is refused (the run was taken from it)
        wait_until(
            lambda: sample("flowgen_leases_lost_total", workflow="fc_busy") == lost + 1,
            30,
            "the worker to find its lease gone",
        )
        assert run.status().status == "cancelled"
    assert sample("flowgen_runs_cancelled_total", workflow="fc_busy") == before + 1
    assert [fact.status for fact in ended] == ["cancelled"]  # type: ignore[attr-defined]


@pytest.mark.redis
def test_across_processes_the_cancelling_client_counts_a_forced_cancel_and_the_workers_do_not(
    redis_url: str, start_worker
) -> None:
    port = free_port()
    start_worker("tests.apps.observed", processes=2, threads=2, args=["--metrics-port", str(port)])
    before = sample("flowgen_runs_cancelled_total", workflow="awaiting")
    with flowgen.Engine(redis_url, tracing=False) as client:
        flowgen.metrics.instrument(client, state=False)
        run = client.start(observed.awaiting, run_id="forced-remote")
        wait_until(lambda: run.status().status == "waiting", 60, "a worker to park the run")
        assert run.cancel(force=True).status == "cancelled"
    assert sample("flowgen_runs_cancelled_total", workflow="awaiting") == before + 1
    samples = wait_until(
        lambda: (found := scrape(port)) and value(found, "flowgen_runs_started_total", workflow="awaiting") == 1
        and found,
        30,
        "the workers' endpoint to count the run's start",
    )
    assert value(samples, "flowgen_runs_cancelled_total", workflow="awaiting") == 0
    assert value(samples, "flowgen_runs", status="cancelled") == 1  # the store's gauge has it
