"""The schedule service: the thread in every worker process that fires due ticks.

It asks the store for the schedules whose due time has come (one indexed range query, like the
timer poller; no cron expression is evaluated until a tick is due), and fires them through
:class:`~.firing.Firing`. There is no "beat" process: every worker runs this service, the store
hands each due schedule to one of them, and a worker that dies mid-fire only delays the tick by
the claim lease (:data:`~.firing.CLAIM_TTL`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..services import _Periodic

if TYPE_CHECKING:
    from .manager import Schedules


FIRING_THREADS = 4
"""Schedules of one claim fired at once: a burst of due ticks is round trips, not CPU."""


class ScheduleService:
    """Fire the due ticks of ``schedules`` every ``interval`` seconds, on a daemon thread."""

    def __init__(self, schedules: Schedules, interval: float) -> None:
        self.schedules = schedules
        self._executor = ThreadPoolExecutor(FIRING_THREADS, thread_name_prefix="flowgen-schedule-fire")
        schedules.firing.executor = self._executor
        self._stop = threading.Event()
        self._thread = _Periodic("flowgen-schedules", interval, self._tick, self._stop)

    def _tick(self) -> bool:
        self.schedules.fire_due()
        return False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.schedules.firing.executor = None
        self._executor.shutdown(wait=True)
