"""``python -m benchmarks.asyncio_steps`` and ``benchmarks.asyncio_client`` run end to end at a
small size and report every figure.

As for the main benchmark, this never checks speed: only that each command starts its own Redis,
workers (and HTTP server), measures its figures and writes them.
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

STEPS_LABELS = (
    "awaits asyncio.sleep(0.2)",
    "GETs a server answering in 200 ms",
    "straight to the server",
    "sync step time.sleep(0.2)",
)
STEPS_SAMPLES = ["async_http", "async_sleep", "http_direct", "sync_sleep_scaled"]
CLIENT_LABELS = ("await engine.start(...)", "await engine.send_event(...)", "CPU per start", "event-loop gap", "threads")
CLIENT_SAMPLES = [
    "send_cpu_us",
    "send_loop_gap_ms",
    "sends_per_s",
    "start_cpu_us",
    "start_loop_gap_ms",
    "starts_per_s",
    "threads",
]


@pytest.mark.parametrize(
    ("module", "arguments", "labels", "samples"),
    [
        ("asyncio_steps", ["--runs", "30", "--sync-runs", "4"], STEPS_LABELS, STEPS_SAMPLES),
        ("asyncio_client", ["--operations", "40", "--concurrency", "10"], CLIENT_LABELS, CLIENT_SAMPLES),
    ],
)
def test_the_asyncio_benchmarks_report_every_figure(
    tmp_path: Path, module: str, arguments: list[str], labels: tuple[str, ...], samples: list[str]
) -> None:
    output = tmp_path / f"{module}.json"
    completed = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--repeat", "1", *arguments, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for label in labels:
        assert label in completed.stdout
    measured = json.loads(output.read_text())["samples"]
    assert sorted(measured) == samples
    assert all(len(values) == 1 and values[0] > 0 for values in measured.values())


def test_bad_arguments_are_refused() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.asyncio_steps", "--runs", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert completed.returncode == 2 and "--runs" in completed.stderr
