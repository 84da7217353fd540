"""A crash right after a parent journals its ``any_of`` winner does not leave the losing child running.

The losing child's cancellation used to be requested after that commit: a process killed in
between left the parent finished and the loser waiting forever, with nobody to ask again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import flowgen
from tests.apps import control

pytestmark = [pytest.mark.faults]

ROOT = Path(__file__).resolve().parents[2]

# Starts the race as run "race" on an embedded SQLite engine (FLOWGEN_FAULT may kill it). A
# short lease: a child the killed process was advancing moves again once its lease ran out.
LEASE_TTL = 1.0
RACE = f"""
import sys
import flowgen
from tests.apps import control
with flowgen.Engine(
    f"sqlite:///{{sys.argv[1]}}", timer_interval=0.05, grace=0.2, lease_ttl={LEASE_TTL}
) as engine:
    engine.start(control.race_children, run_id="race").result(timeout=30)
"""


def _crash_after_the_parent_finished(database: Path) -> None:
    """Kill the process at the parent's commit that finishes it (which commit that is varies)."""
    for attempt in range(1, 40):
        if database.exists():
            database.unlink()
        hit = 1 + attempt % 3
        environment = {**os.environ, "FLOWGEN_FAULT": f"after_commit:race@{hit}"}
        process = subprocess.run(
            [sys.executable, "-c", RACE, str(database)], env=environment, cwd=ROOT, timeout=60
        )
        if process.returncode == -9:
            with flowgen.Engine(f"sqlite:///{database}", start_workers=False) as engine:
                if engine.get("race").status().status == "completed":
                    return
    pytest.fail("the process was never killed right after the parent finished")


def test_a_crash_after_the_parent_journals_the_winner_still_cancels_the_loser(tmp_path: Path) -> None:
    database = tmp_path / "runs.db"
    _crash_after_the_parent_finished(database)
    control.reset()
    with flowgen.Engine(f"sqlite:///{database}", timer_interval=0.05, reconcile_interval=0.1) as engine:
        assert engine.get("race").result(timeout=5) == {"index": 0, "value": {"n": 1, "value": "CHILD-1"}}
        loser = engine.get("race/0.1")
        # within lease_ttl + reconcile_interval (services.py), with room for a loaded machine
        assert loser.wait_for_status("cancelled", timeout=LEASE_TTL + 10).status == "cancelled"
    control.reset()
