"""Flow control with real threads: an embedded engine (SQLite, 8 worker threads) running a step
limited to 2 executing attempts, and a workflow limited to 1 run per key."""

from __future__ import annotations

from pathlib import Path

import flowgen
from tests.apps import flow_apps as apps
from tests.conftest import wait_until


def test_a_step_limit_caps_executing_attempts_across_threads_and_parks_the_rest(tmp_path: Path) -> None:
    apps.RUNNING.update(now=0, max=0)
    with flowgen.Engine(f"sqlite:///{tmp_path / 'flow.db'}", threads=8, timer_interval=0.05) as engine:
        runs = [engine.start(apps.uses_scarce, index) for index in range(8)]
        assert sorted(run.result(timeout=60) for run in runs) == list(range(8))
        journals = [engine.journal(run.run_id) for run in runs]
    assert apps.RUNNING["max"] == 2  # the limit held, and did bind
    # a run that waited for a slot spent no attempt on it
    assert all(len(journal[0]["attempts"]) == 1 for journal in journals)


def test_a_run_limit_per_key_holds_with_real_threads(tmp_path: Path) -> None:
    with flowgen.Engine(f"sqlite:///{tmp_path / 'flow.db'}", threads=8, timer_interval=0.05) as engine:
        first = engine.start(apps.greet_slowly, "k", 2.0)
        wait_until(lambda: first.status().status == "running", 10, "the first run to start")
        second = engine.start(apps.greet_slowly, "k", 0.0)
        other = engine.start(apps.greet_slowly, "j", 0.0)
        assert other.result(timeout=30) == "j"  # another key is not held back
        blocked = wait_until(lambda: second.status().blocked_by, 10, "the second run to wait in line")
        assert blocked == flowgen.BlockedBy("run:flow.greet_slowly|k", "k", 1, 1)
        assert second.status().status == "queued"
        assert first.result(timeout=30) == "k" and second.result(timeout=30) == "k"
        assert first.status().finished <= second.status().finished  # type: ignore[operator]
