"""Workflows that schedules run in the tests (names start with ``schedules.`` to stay unique).

Nothing here is declared with ``flowgen.schedule`` at import: the test process imports this
module, and a process-wide declaration would be registered by every embedded engine the other
tests start. Worker processes that must declare a schedule import :mod:`tests.apps.schedule_declared`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import flowgen


@flowgen.step(name="schedules.which_tick")
def which_tick() -> dict[str, Any]:
    info = flowgen.schedule_info()
    assert info is not None
    return {"schedule": info.schedule, "tick": info.tick.isoformat(), "manual": info.manual}


@flowgen.workflow(name="schedules.nightly")
def nightly(region: str = "eu", tick: datetime | None = None):  # type: ignore[no-untyped-def]
    seen = yield which_tick()
    return {"region": region, "tick": None if tick is None else tick.isoformat(), "seen": seen}


@flowgen.workflow(name="schedules.slow")
def slow(minutes: int = 90):  # type: ignore[no-untyped-def]
    yield flowgen.sleep(minutes * 60)
    return "done"


@flowgen.step(name="schedules.explode", retries=0)
def explode() -> None:
    raise RuntimeError("the report server is down")


@flowgen.workflow(name="schedules.failing")
def failing():  # type: ignore[no-untyped-def]
    yield explode()


@flowgen.step(name="schedules.record")
def record() -> str:
    info = flowgen.schedule_info()
    return "" if info is None else info.tick.isoformat()


@flowgen.workflow(name="schedules.quick")
def quick():  # type: ignore[no-untyped-def]
    tick = yield record()
    return tick
