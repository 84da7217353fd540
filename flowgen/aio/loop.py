"""The step loop: one asyncio event loop per process, in its own thread, for ``async def`` steps.

Worker threads (Dramatiq's, or an embedded engine's) never wait for an async step: they hand its
coroutine to this loop and go on with the next message. So 1,000 runs awaiting an HTTP call
each cost 1,000 coroutines on one thread, not 1,000 threads. Sync steps keep running on the
worker threads; the loop only ever runs async step bodies (and nothing that blocks: reporting
an attempt's outcome happens on a continuation thread, see :mod:`.runner`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class StepLoop:
    """An event loop running forever in a daemon thread; coroutines are submitted from any thread."""

    def __init__(self, name: str = "flowgen-step-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (started on first use)."""
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=serve, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop

    def in_loop_thread(self) -> bool:
        """True when called from the loop's own thread (where blocking on it would deadlock)."""
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop; its outcome arrives in the returned future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


_process_loop = StepLoop()


def step_loop() -> StepLoop:
    """The step loop of this process (its thread starts when the first async step runs)."""
    return _process_loop
