"""``python -m benchmarks.asyncio_steps`` runs end to end at a small size and reports every figure.

As for the main benchmark, this never checks speed: only that the command starts its own Redis,
worker and HTTP server, measures the four figures and writes them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_the_asyncio_benchmark_reports_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "asyncio.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.asyncio_steps",
            "--repeat",
            "1",
            "--runs",
            "30",
            "--sync-runs",
            "4",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for label in (
        "awaits asyncio.sleep(0.2)",
        "GETs a server answering in 200 ms",
        "straight to the server",
        "sync step time.sleep(0.2)",
    ):
        assert label in completed.stdout
    samples = json.loads(output.read_text())["samples"]
    assert sorted(samples) == ["async_http", "async_sleep", "http_direct", "sync_sleep_scaled"]
    assert all(len(values) == 1 and values[0] > 0 for values in samples.values())


def test_bad_arguments_are_refused() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.asyncio_steps", "--runs", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert completed.returncode == 2 and "--runs" in completed.stderr


def test_the_async_client_benchmark_reports_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "client.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.asyncio_client",
            "--repeat",
            "1",
            "--operations",
            "40",
            "--concurrency",
            "10",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for label in (
        "await engine.start(...)",
        "await engine.send_event(...)",
        "CPU per start",
        "event-loop gap",
        "threads",
    ):
        assert label in completed.stdout
    samples = json.loads(output.read_text())["samples"]
    assert sorted(samples) == [
        "send_cpu_us",
        "send_loop_gap_ms",
        "sends_per_s",
        "start_cpu_us",
        "start_loop_gap_ms",
        "starts_per_s",
        "threads",
    ]
    assert all(len(values) == 1 and values[0] > 0 for values in samples.values())
