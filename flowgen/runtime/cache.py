"""The generator cache: parked live generators, so a run resumed by the same process skips replay."""

from __future__ import annotations

import threading
from collections import OrderedDict

import attrs

from ..interpreter import Replayer

CACHE_HORIZON = 60.0
"""Keep a parked run's live generator only if it should wake within this many seconds (or is
waiting for its own branches or children): long sleepers and event waits cost no memory."""


@attrs.define
class Cached:
    """A parked run's live generator, valid while the run's epoch is ``epoch + 1`` at ``position``."""

    replayer: Replayer
    epoch: int
    position: int


class GeneratorCache:
    """A bounded LRU of parked live generators, so a run resumed here skips replay."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Cached] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, run_id: str) -> Cached | None:
        with self._lock:
            return self._items.pop(run_id, None)

    def put(self, run_id: str, item: Cached) -> None:
        if self.size <= 0:
            item.replayer.close()
            return
        evicted: list[Cached] = []
        with self._lock:
            old = self._items.pop(run_id, None)
            if old is not None:
                evicted.append(old)
            self._items[run_id] = item
            while len(self._items) > self.size:
                evicted.append(self._items.popitem(last=False)[1])
        for stale in evicted:
            stale.replayer.close()

    def clear(self) -> None:
        """Drop (and close) every cached generator: the code they run was replaced."""
        with self._lock:
            dropped = list(self._items.values())
            self._items.clear()
        for stale in dropped:
            stale.replayer.close()

    def __len__(self) -> int:
        return len(self._items)
