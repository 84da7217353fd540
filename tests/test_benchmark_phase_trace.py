"""``python -m benchmarks.phase_trace`` times every hop of short timers and idle probes end to end.

It is a diagnostic: this checks that it starts its Redis and traced workers, finds every
event of every run and prints the breakdown, never how fast anything was.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.mark.parametrize(("what", "first_hop"), [("timers", "due>tick"), ("latency", "start>sent")])
def test_phase_trace_reports_each_hop_of_every_run(what: str, first_hop: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.phase_trace",
            what,
            "--count",
            "20",
            "--processes",
            "1",
            "--threads",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert first_hop in out and "p99" in out, out
    if what == "timers":
        handed = int(out.split(" of 20 handed")[0].split()[-1])
        assert handed > 0, f"no timer went to a thread of the process that fired it:\n{out}"
    assert "runs with every event" in out, out
