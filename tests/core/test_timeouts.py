"""The step-timeout watchdog survives deadlines too far out for the platform's waits."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from flowgen.timeouts import StepInterrupted, Watchdog


class _RecordingCondition(threading.Condition):
    """A condition that records the timeout of every wait."""

    def __init__(self, lock: Any, waits: list[float | None]) -> None:
        super().__init__(lock)
        self.waits = waits

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return super().wait(timeout)


def test_a_deadline_past_the_platform_limit_neither_kills_the_watchdog_nor_stops_other_timeouts() -> None:
    watchdog = Watchdog()
    waits: list[float | None] = []
    watchdog._wakeup = _RecordingCondition(watchdog._lock, waits)
    far = threading.TIMEOUT_MAX * 10
    entered = threading.Event()
    release = threading.Event()

    def hold_far_guard() -> None:
        with watchdog.guard(far):
            entered.set()
            release.wait(30)

    holder = threading.Thread(target=hold_far_guard, daemon=True)
    holder.start()
    try:
        assert entered.wait(10)
        deadline = time.monotonic() + 10
        while not any(wait is not None and wait > 1000 for wait in waits):
            assert watchdog._thread is not None and watchdog._thread.is_alive(), "the watchdog thread died"
            assert time.monotonic() < deadline, "the watchdog never waited for the far deadline"
            time.sleep(0.01)
        assert all(wait is None or wait <= threading.TIMEOUT_MAX for wait in waits)
        serving = watchdog._thread
        assert serving is not None and serving.is_alive()

        began = time.monotonic()
        with pytest.raises(StepInterrupted), watchdog.guard(0.2):
            while time.monotonic() - began < 10:
                time.sleep(0.01)
        assert time.monotonic() - began < 5
        assert watchdog._thread is serving, "the watchdog thread had to be replaced"
    finally:
        release.set()
        holder.join(10)
