"""``--metrics-host``: a real ``flowgen worker --processes 2`` listens where it is told, only there."""

from __future__ import annotations

import urllib.request

import psutil
import pytest

from tests.conftest import wait_until
from tests.observability.test_worker_metrics import free_port

pytestmark = pytest.mark.redis

HOST = "127.0.0.2"
"""A loopback address other than the default (Linux routes all of 127/8 to the loopback)."""


def _scrape(host: str, port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def test_the_supervisor_serves_on_the_metrics_host_given_and_nowhere_else(start_worker) -> None:
    port = free_port()
    worker = start_worker(
        "tests.apps.observed",
        processes=2,
        threads=1,
        args=["--metrics-port", str(port), "--metrics-host", HOST],
    )
    text = wait_until(lambda: _scrape(HOST, port), 60, f"the endpoint on {HOST}:{port}")
    assert "flowgen_runs_started_total" in text or "flowgen_runs{" in text
    supervisor = psutil.Process(worker.pid)
    listening = {(c.laddr.ip, c.laddr.port) for c in supervisor.net_connections() if c.status == "LISTEN"}
    assert listening == {(HOST, port)}
    assert _scrape("127.0.0.1", port) is None  # not on the default address as well
