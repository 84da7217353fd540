"""``python -m benchmarks.schedules`` runs end to end at a tiny size and reports every figure.

Speed is the benchmark's business: this checks that it starts its own Redis and workers, fires
every tick once (no gap) and prints the figures docs/performance.md quotes, never how fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_the_schedule_benchmark_runs_and_reports_its_figures() -> None:
    command = [sys.executable, "-m", "benchmarks.schedules", "--schedules", "20", "--every", "1"]
    command += ["--duration", "3", "--rounds", "1", "--processes", "1", "--threads", "2"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["gaps"] == 0 and figures["ticks"] >= 20 * 2
    for name in ("tick_created_p99", "tick_woke_p99", "timer_woke_p99", "tick_vs_timer_p99"):
        assert figures[name] > 0, name
