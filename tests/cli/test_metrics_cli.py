"""``flowgen metrics`` and ``flowgen worker --metrics-port``: real endpoints, bad options refused."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

import flowgen
from tests.apps import observed
from tests.cli.conftest import Cli, cli_environment, one_error_line
from tests.conftest import ROOT, wait_until
from tests.observability.test_worker_metrics import free_port, scrape, value


def _listening(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2):
            return True
    except OSError:
        return False


def test_flowgen_metrics_serves_the_state_gauges_of_a_store_on_localhost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gauges.db'}"
    with flowgen.Engine(url, start_workers=False, tracing=False) as engine:
        for n in range(3):
            engine.start(observed.awaiting, run_id=f"queued-{n}")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flowgen", "metrics", "--url", url, "--port", str(port)],
        cwd=ROOT,
        env=cli_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _listening(port), 30, "the exporter to listen")
        samples = scrape(port)
        assert value(samples, "flowgen_runs", status="queued") == 3
        assert value(samples, "flowgen_runs", status="completed") == 0
        assert value(samples, "flowgen_runs_with_timer") == 0
        assert ("flowgen_queue_backlog_seconds", ()) in samples
        # Only the state gauges: a standalone exporter records no process counters.
        assert not any(name.startswith("flowgen_runs_started") for name, _ in samples)
        addresses = {
            c.laddr.ip for c in psutil.Process(process.pid).net_connections() if c.status == "LISTEN"
        }
        assert addresses == {"127.0.0.1"}
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.parametrize("port", ["0", "70000", "-1"])
def test_a_metrics_port_out_of_range_is_one_line_naming_the_option(
    cli: Cli, port: str, tmp_path: Path
) -> None:
    line = one_error_line(cli("metrics", "--url", f"sqlite:///{tmp_path / 'x.db'}", "--port", port), 2)
    assert "--port" in line and port in line
    line = one_error_line(
        cli("worker", "tests.apps.observed", "--url", "redis://127.0.0.1:1/0", "--metrics-port", port), 2
    )
    assert "--metrics-port" in line and port in line


def test_an_empty_metrics_host_is_refused_rather_than_listening_everywhere(cli: Cli, tmp_path: Path) -> None:
    line = one_error_line(cli("metrics", "--url", f"sqlite:///{tmp_path / 'x.db'}", "--host", " "), 2)
    assert "--host" in line and "0.0.0.0" in line
    line = one_error_line(
        cli(
            "worker",
            "tests.apps.observed",
            "--url",
            "redis://127.0.0.1:1/0",
            "--metrics-port",
            "9",
            "--metrics-host",
            "",
        ),
        2,
    )
    assert "--metrics-host" in line


def test_a_metrics_port_in_use_is_one_line(cli: Cli, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_error_line(
            cli("metrics", "--url", f"sqlite:///{tmp_path / 'x.db'}", "--port", str(port)), 1
        )
    assert f"127.0.0.1:{port}" in line and "another" in line


@pytest.mark.redis
def test_a_single_worker_process_serves_its_own_metrics(redis_url: str, start_worker) -> None:
    port = free_port()
    start_worker("tests.apps.observed", threads=2, args=["--metrics-port", str(port)])
    with flowgen.Engine(redis_url, tracing=False) as engine:
        runs = [engine.start(observed.observed, x, run_id=f"single-{x}") for x in range(2, 7)]
        for run in runs:
            wait_until(lambda run=run: run.status().is_finished, 60, f"{run.run_id} to finish")
    wf = {"workflow": "observed"}

    def counted() -> dict | None:
        samples = scrape(port)
        done = value(samples, "flowgen_runs_completed_total", **wf) + value(
            samples, "flowgen_runs_failed_total", **wf
        )
        return samples if done == 5 else None

    samples = wait_until(counted, 20, "five finished runs on the endpoint")
    assert value(samples, "flowgen_runs_failed_total", **wf) == 1  # x = 5
    assert value(samples, "flowgen_runs_started_total", **wf) == 5
    assert value(samples, "flowgen_runs", status="failed") == 1


def test_the_metric_text_parses(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    import flowgen.metrics

    with flowgen.Engine(f"sqlite:///{tmp_path / 'p.db'}", tracing=False) as engine:
        flowgen.metrics.instrument(engine)
        flowgen.metrics.instrument(engine)  # idempotent: one collector per engine
        families = {
            family.name
            for family in text_string_to_metric_families(generate_latest(flowgen.metrics.registry).decode())
        }
    assert {"flowgen_runs", "flowgen_step_attempts", "flowgen_runs_started"} <= families


def test_the_state_gauges_of_one_engine_at_a_time_and_they_stop_with_it(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    import flowgen.metrics

    first = flowgen.Engine(f"sqlite:///{tmp_path / 'a.db'}", tracing=False)
    flowgen.metrics.instrument(first)
    with flowgen.Engine("memory://", tracing=False) as second:
        with pytest.raises(flowgen.ConfigurationError, match="state=False"):
            flowgen.metrics.instrument(second)
        flowgen.metrics.instrument(second, state=False)
    first.close()
    assert "flowgen_runs{" not in generate_latest(flowgen.metrics.registry).decode()
    with flowgen.Engine("memory://", tracing=False) as third:
        flowgen.metrics.instrument(third)  # the closed engine's gauges are gone: this one may export
        assert 'flowgen_runs{status="queued"} 0.0' in generate_latest(flowgen.metrics.registry).decode()
