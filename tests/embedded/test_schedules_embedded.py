"""Schedules on the embedded SQLite engine: two engines (as two processes would) on one file."""

from __future__ import annotations

from pathlib import Path

import flowgen
from flowgen.status import RunStatus
from tests.apps import schedule_apps as apps
from tests.conftest import wait_until


def test_two_embedded_engines_on_one_file_start_one_run_per_tick(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flowgen.db'}"
    with (
        flowgen.Engine(url, threads=2, timer_interval=0.05) as first,
        flowgen.Engine(url, threads=2, timer_interval=0.05) as second,
    ):
        first.schedules.create("every-second", apps.quick, every="1s", overlap="allow_all")

        def ticks() -> list[str]:
            runs = second.runs(workflow="schedules.quick", limit=None)
            return sorted(info.run_id for info in runs if info.status == RunStatus.COMPLETED)

        wait_until(lambda: len(ticks()) >= 4, 30, "four ticks to complete")
        first.schedules.pause("every-second")
        done = ticks()
    seconds = sorted(int(flowgen.schedules.parse_run_id(run_id).tick.timestamp()) for run_id in done)  # type: ignore[union-attr]
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds)))
    with flowgen.Engine(url, start_workers=False) as reader:
        info = reader.schedules.get("every-second")
        assert info.paused and info.started >= len(done) and info.missed == 0
        for run_id in done:
            assert reader.status(run_id).output == reader.status(run_id).tick.isoformat()  # type: ignore[union-attr]
