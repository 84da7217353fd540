"""Interrupt a step attempt that runs past its timeout, from a watchdog thread.

The watchdog raises an exception asynchronously in the step's thread (the mechanism Dramatiq's
time limit uses). The exception is a private ``BaseException`` so a step's ``except Exception``
cannot swallow it; the engine turns it into :class:`~flowgen.errors.StepTimeoutError`.

What cannot be interrupted: an asynchronous exception is delivered when the thread next runs
Python bytecode, so code blocked inside a C call (``time.sleep``, a socket read without a
timeout, a long C extension call) is interrupted only when that call returns. Give network
calls their own timeouts.

Race handling: firing and leaving the guarded block both happen under one lock. If the
watchdog fired but the body returned before the exception was delivered, the pending
exception is cleared, so it can never surface later in engine code.
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import attrs

LONGEST_WAIT = 3600.0
"""The watchdog sleeps at most this long at a time, then looks at its deadlines again."""


class StepInterrupted(BaseException):
    """Raised asynchronously into a step thread whose attempt timed out."""


def monotonic() -> float:
    """The real monotonic clock, even under ``freezegun`` (which freezes ``time.monotonic``).

    The watchdog thread waits in real time, so deadlines must be computed in real time too, or a
    step timeout in a test that freezes time would never fire.
    """
    api = sys.modules.get("freezegun.api")
    real = getattr(api, "real_monotonic", None) if api is not None else None
    return float(real()) if real is not None else time.monotonic()


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    import ctypes  # here, not at the top: only a step that runs past its timeout needs it (start-up)

    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None
    )


@attrs.define(eq=False)
class _Guard:
    thread_id: int
    deadline: float
    fired: bool = False
    done: bool = False


class Watchdog:
    """One daemon thread that interrupts guarded blocks past their deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Guard]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="flowgen-step-timeouts", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        with self._lock:
            while True:
                while self._heap and (self._heap[0][2].done or self._heap[0][2].fired):
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wakeup.wait()
                    continue
                deadline, _, guard = self._heap[0]
                remaining = deadline - monotonic()
                if remaining > 0:
                    # Bounded: the platform refuses waits past about 292 years, and an
                    # OverflowError here would end the thread that serves every step's timeout.
                    self._wakeup.wait(min(remaining, LONGEST_WAIT))
                    continue
                heapq.heappop(self._heap)
                guard.fired = True
                _set_async_exc(guard.thread_id, StepInterrupted)

    @contextmanager
    def guard(self, seconds: float) -> Iterator[_Guard]:
        """Interrupt the current thread with :class:`StepInterrupted` if the block outlives ``seconds``."""
        guard = _Guard(threading.get_ident(), monotonic() + seconds)
        with self._lock:
            self._ensure_thread()
            heapq.heappush(self._heap, (guard.deadline, next(self._counter), guard))
            self._wakeup.notify()
        try:
            yield guard
        finally:
            with self._lock:
                guard.done = True
                if guard.fired:
                    _set_async_exc(guard.thread_id, None)


watchdog = Watchdog()
"""The process-wide watchdog."""
