"""The priority lane, as workers serve it: prioritized runs go ahead of the transport's queue.

A run started with ``priority=`` (or resuming from a timer) is in the store's **priority
lane** (:func:`flowgen.stores.flow_logic.take_lane`: a sorted set flowgen orders) *and* has its
ordinary message. Before a worker thread handles a message, it takes the lane's first run, if
any, and advances it first; whichever of the two gets to the run first advances it, the other
finds nothing to do. So a prioritized run waits for one message's worth of work, not for the
whole queue ahead of it.

The common case must not get slower: the lane is looked at by at most one thread of a process
every :data:`LANE_INTERVAL` seconds: one store call per process per interval (an empty lane
costs one round trip), not one per message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

LANE_INTERVAL = 0.02
"""Seconds between two looks at the priority lane by one process."""


class PriorityLane:
    """Decides when this process looks at the lane, and takes from it."""

    def __init__(self, take: Callable[[float], str | None], now: Callable[[], float]) -> None:
        self._take = take
        self._now = now
        self._lock = threading.Lock()
        self._next = 0.0

    def next_run(self) -> str | None:
        """The lane's first run if it is time to look (one thread at a time), else ``None``."""
        moment = time.monotonic()
        if moment < self._next or not self._lock.acquire(blocking=False):
            return None
        try:
            self._next = moment + LANE_INTERVAL
            return self._take(self._now())
        finally:
            self._lock.release()
