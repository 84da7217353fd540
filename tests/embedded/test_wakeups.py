"""Background services wake when work falls due, not only at their next poll.

* A timer this process parks a run on fires at its due time: a wait shorter than the timer
  poll interval is not rounded up to the next poll.
* The reconciler wakes when the earliest lease ends: a dead worker's run moves again right
  after its lease, not up to a ``reconcile_interval`` later.

Both keep their interval as the safety net. The intervals here are 30 s so that a wake-up
that only happened at the next poll would miss the (generous) deadlines by far.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import flowgen
from flowgen.clock import WallClock
from flowgen.services import Services
from flowgen.stores.memory import MemoryStore
from tests.conftest import wait_until
from tests.stores.support import new_run

POLL = 30.0


@flowgen.workflow(name="tests.wakeups.short_sleep")
def short_sleep(seconds: float) -> Generator[Any, Any, float]:
    yield flowgen.sleep(seconds)
    return (yield flowgen.now()).timestamp()


def test_a_timer_due_before_the_next_poll_fires_at_its_due_time() -> None:
    with flowgen.Engine("memory://", timer_interval=POLL) as engine:
        started = time.time()
        woke = engine.start(short_sleep, 0.05).result(timeout=10)
    assert woke - started >= 0.05
    assert woke - started < 5, f"woke {woke - started:.2f}s after the start (poll every {POLL:.0f}s)"


def test_the_reconciler_wakes_when_a_dead_workers_lease_ends() -> None:
    store = MemoryStore()
    clock = WallClock()
    now = clock.now()
    store.create_run(new_run("stuck", created=now), now, 60.0)
    assert store.acquire("stuck", "dead-worker", 0.3, now) is not None  # and the worker dies
    enqueued: list[str] = []
    services = Services(store, enqueued.extend, clock, grace=60.0, timer_interval=POLL, reconcile_interval=POLL)
    services.start()
    try:
        wait_until(lambda: enqueued == ["stuck"], 10, "the run to be enqueued again after its lease")
    finally:
        services.stop()
    assert clock.now() - now < 10
