"""The metrics endpoint of a real ``flowgen worker --processes 2``: exact totals after 100 runs."""

from __future__ import annotations

import socket
import urllib.request

import psutil
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

import flowgen
from tests.apps import observed
from tests.conftest import wait_until

pytestmark = pytest.mark.redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint, by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_worker_with_two_processes_serves_exact_totals_after_100_runs(redis_url: str, start_worker) -> None:
    port = free_port()
    worker = start_worker("tests.apps.observed", processes=2, threads=4, args=["--metrics-port", str(port)])
    with flowgen.Engine(redis_url, tracing=False) as engine:
        runs = [engine.start(observed.observed, x, run_id=f"obs-{x}") for x in range(100)]
        for run in runs:
            wait_until(lambda run=run: run.status().is_finished, 60, f"{run.run_id} to finish")
    wf = {"workflow": "observed"}

    def all_counted() -> dict | None:
        samples = scrape(port)
        finished = sum(
            value(samples, f"flowgen_runs_{end}_total", **wf) for end in ("completed", "failed", "cancelled")
        )
        return samples if finished == 100 else None

    samples = wait_until(all_counted, 30, "the endpoint to count 100 finished runs")
    assert value(samples, "flowgen_runs_started_total", **wf) == 100
    assert value(samples, "flowgen_runs_completed_total", **wf) == 80
    assert value(samples, "flowgen_runs_failed_total", **wf) == 20
    assert value(samples, "flowgen_runs_cancelled_total", **wf) == 0
    attempts = {
        (step, outcome): value(samples, "flowgen_step_attempts_total", step=step, outcome=outcome, **wf)
        for step in ("obs_double", "obs_increment", "obs_explode")
        for outcome in ("succeeded", "failed", "timed_out")
    }
    assert attempts == {
        ("obs_double", "succeeded"): 100,
        ("obs_double", "failed"): 0,
        ("obs_double", "timed_out"): 0,
        ("obs_increment", "succeeded"): 80,
        ("obs_increment", "failed"): 0,
        ("obs_increment", "timed_out"): 0,
        ("obs_explode", "succeeded"): 0,
        ("obs_explode", "failed"): 40,
        ("obs_explode", "timed_out"): 0,
    }
    durations = {
        step: value(samples, "flowgen_step_attempt_duration_seconds_count", step=step, **wf)
        for step in ("obs_double", "obs_increment", "obs_explode")
    }
    assert durations == {"obs_double": 100, "obs_increment": 80, "obs_explode": 40}
    assert value(samples, "flowgen_schedule_to_start_seconds_count", **wf) == 100
    assert value(samples, "flowgen_run_journal_entries_count", **wf) == 100
    # double + increment (2) for 70 runs, + a sleep (3) for 10, double + explode (2) for 20
    assert value(samples, "flowgen_run_journal_entries_sum", **wf) == 70 * 2 + 10 * 3 + 20 * 2
    assert value(samples, "flowgen_timer_lateness_seconds_count", **wf) == 10
    # The state gauges come from the store: every run is finished.
    assert value(samples, "flowgen_runs", status="completed") == 80
    assert value(samples, "flowgen_runs", status="failed") == 20
    assert value(samples, "flowgen_runs", status="running") == 0
    assert value(samples, "flowgen_runs_with_timer") == 0
    # Both processes ran steps, so the totals above are the sum of their files.
    client = redis.Redis.from_url(redis_url)
    assert client.scard(observed.PIDS) == 2
    client.close()
    assert worker.process.poll() is None
    # The supervisor serves, on the loopback interface only; its workers listen on no port.
    supervisor = psutil.Process(worker.pid)
    listening = {(c.laddr.ip, c.laddr.port) for c in supervisor.net_connections() if c.status == "LISTEN"}
    assert listening == {("127.0.0.1", port)}
    for child in supervisor.children():
        assert [c for c in child.net_connections() if c.status == "LISTEN"] == []
