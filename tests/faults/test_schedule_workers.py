"""Done when: one run per tick with 3 real workers on a real Redis, one killed -9 and restarted.

The schedule ``declared-quick`` (``every="1s"``, ``tests/apps/schedule_declared.py``) is
declared in the workers' code, so the workers register it at start-up (three at once: the
registration races too). What the test allows, and why: **no duplicate** (each tick's run id is
derived from the tick, so a second run for a tick cannot exist; the test also checks each run
ran its step once) and **no gap at all**, because two workers stay alive throughout; the only
gap the design allows is for ticks during which *no* worker is alive, and then only under
``catchup="skip"`` or beyond ``max_lateness``. A tick the killed worker had claimed is fired
late, by another worker, once its claim lease (5 s) ends: lateness up to that is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

import flowgen
from flowgen.schedules.firing import CLAIM_TTL
from flowgen.status import RunStatus
from tests.conftest import WorkerProcess, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.redis, pytest.mark.slow]

MODULE = "tests.apps.schedule_declared"
NAME = "declared-quick"


def _ticks(engine: flowgen.Engine) -> dict[datetime, str]:
    runs = engine.runs(workflow="schedules.quick", limit=None)
    return {info.tick: info.run_id for info in runs if info.schedule == NAME and info.tick is not None}


def test_every_second_for_20_seconds_with_a_worker_killed_and_restarted_gives_one_run_per_tick(
    redis_url: str, start_worker: Callable[..., WorkerProcess]
) -> None:
    engine = flowgen.Engine(redis_url)
    try:
        workers = [start_worker(MODULE, threads=2) for _ in range(3)]
        wait_until(lambda: len(_ticks(engine)) >= 6, 60, "6 ticks with three workers")
        workers[0].kill()
        killed_at = len(_ticks(engine))
        wait_until(lambda: len(_ticks(engine)) >= killed_at + 5, 60, "5 ticks with two workers")
        start_worker(MODULE, threads=2)
        wait_until(lambda: len(_ticks(engine)) >= 20, 60, "20 ticks in all")
        engine.schedules.pause(NAME)
        ticks = _ticks(engine)

        def all_finished() -> bool:
            return all(engine.status(run_id).status == RunStatus.COMPLETED for run_id in ticks.values())

        wait_until(all_finished, 60, "every scheduled run to complete")
    finally:
        info = engine.schedules.get(NAME)
        engine.close()

    seconds = sorted(int(tick.timestamp()) for tick in ticks)
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds))), f"a gap in {seconds}"
    assert len(seconds) >= 20
    for tick, run_id in ticks.items():
        assert run_id == f"schedule:{NAME}:{tick.isoformat()}"
    with flowgen.Engine(redis_url) as reader:
        for run_id in ticks.values():
            journal = reader.journal(run_id)
            assert [len(entry["attempts"]) for entry in journal] == [1], f"{run_id} ran its step twice"
            lateness = reader.status(run_id).created.timestamp() - reader.status(run_id).tick.timestamp()  # type: ignore[union-attr]
            assert lateness <= CLAIM_TTL + 3.0, f"{run_id} started {lateness:.1f}s after its tick"
    assert info.started >= len(seconds) and info.skipped == 0 and info.missed == 0
    assert not info.undeclared and info.origin == "code"
