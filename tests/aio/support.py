"""What several asyncio tests use: a ticker that shows whether an event loop kept running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Ticker:
    """Counts the turns of the event loop it runs on, and the longest gap between two."""

    def __init__(self) -> None:
        self.ticks = 0
        self.longest_gap = 0.0
        self._stop = False

    async def run(self) -> None:
        last = time.monotonic()
        while not self._stop:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            self.ticks += 1
            self.longest_gap = max(self.longest_gap, now - last)
            last = now

    async def around(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.create_task(self.run())
        await asyncio.sleep(0)
        try:
            return await awaitable
        finally:
            self._stop = True
            await task
