"""What several asyncio tests use: a ticker that shows whether an event loop kept running.

It is the async client benchmark's own loop watch (one implementation of the measurement).
"""

from __future__ import annotations

from benchmarks.asyncio_client import LoopWatch as Ticker

__all__ = ["Ticker"]
