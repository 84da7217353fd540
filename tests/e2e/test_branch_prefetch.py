"""A worker takes a step branch's message only when one of its threads is free for it.

Prefetch fetches messages ahead of a worker's threads. For advance messages (short) that is
what keeps threads busy; a step branch may run for minutes, and one fetched by a worker whose
threads are all busy would wait there while another worker idles (``all_of`` steps that
should run in parallel ran one after the other). Such a message goes back to the head of the
queue for a worker with a free thread.
"""

from __future__ import annotations

import pytest

import flowgen
from tests.apps import timing
from tests.conftest import wait_until

pytestmark = pytest.mark.redis


def test_branches_a_busy_worker_fetched_run_at_once_on_an_idle_one(redis_url: str, start_worker) -> None:
    # The busy worker's two threads are held by five-minute steps; it consumes the branches'
    # queue too, and fetches them (its consumer of that queue holds nothing). Another worker
    # advances the run, a third one, idle, is started only once the branches were sent.
    busy = start_worker("tests.apps.faults", "tests.apps.timing", threads=2, args=["--prefetch", "2"])
    try:
        with flowgen.Engine(redis_url) as engine:
            holders = [engine.start("faults.stalled", n, 300.0) for n in range(2)]
            wait_until(
                lambda: all(run.status().status == "running" for run in holders), 30, "both threads to be busy"
            )
            start_worker("tests.apps.timing", threads=2, args=["--queues", "flowgen"])
            gather = engine.start(timing.gather_routed, 4, 1.0)
            wait_until(lambda: gather.status().status == "waiting", 30, "the branches to be sent")
            start_worker("tests.apps.timing", threads=4, args=["--queues", timing.ROUTED_SLOW_QUEUE])
            values = gather.result(timeout=60)
    finally:
        busy.kill()
    spans = [(value["started"], value["finished"]) for value in values]
    at_once = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert at_once == 4, f"only {at_once} of the four 1-second steps ran at the same moment: {spans}"
