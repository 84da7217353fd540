"""The in-process transport's queue: its backlog is what keeps the reconciler from re-enqueueing."""

from __future__ import annotations

import threading
import time

from flowgen.transports.local import LocalTransport
from tests.conftest import wait_until


class _BlockingRuntime:
    """A runtime whose ``advance`` holds its thread until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.advanced: list[str] = []

    def advance(self, run_id: str) -> None:
        self.advanced.append(run_id)
        self.entered.set()
        self.release.wait(10)


def test_backlog_is_how_long_the_oldest_queued_message_has_waited() -> None:
    runtime = _BlockingRuntime()
    transport = LocalTransport(threads=1)
    transport.bind(runtime)
    transport.start()
    try:
        assert transport.backlog() == 0.0
        transport.enqueue(["busy"])
        assert runtime.entered.wait(5)
        assert transport.backlog() == 0.0  # the one thread holds "busy"; nothing waits

        first_sent = time.monotonic()
        transport.enqueue(["a"])
        wait_until(lambda: transport.backlog() >= 0.2, 5, "the queued message never looked 0.2 s old")
        transport.enqueue(["b"])
        assert 0.2 <= transport.backlog() <= time.monotonic() - first_sent  # "a"'s age, not "b"'s

        runtime.release.set()
        wait_until(transport.idle, 5, "the queue did not drain")
        assert transport.backlog() == 0.0
        assert runtime.advanced == ["busy", "a", "b"]
    finally:
        runtime.release.set()
        transport.stop()
