"""Async step branches on a worker: started by a worker thread, awaited on the step loop.

A worker thread that receives an async step's branch message begins the attempt (the branch
record's heartbeat is renewed by the :class:`~flowgen.leases.LeaseKeeper` as for any branch),
hands the coroutine to the process's :class:`~.loop.StepLoop` and returns to take the next
message. When the coroutine ends, a reporter thread (never the loop: store writes block)
writes the attempt's report into the branch record, which wakes the run.

At most ``limit`` async attempts are in flight per process (``Engine(async_step_limit=...)``);
a thread that would start one more waits for a slot, so a process never takes on more work
than it is sized for (and a backlog spreads over the other workers).

Graceful stop (:meth:`AsyncBranchRunner.close`) waits for the attempts in flight to end and be
reported, as a stopping worker waits for its sync steps. A process that dies with attempts in
flight loses them like sync ones: their heartbeats expire and the runs record crashed attempts.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading

from ..faults import fault_point
from ..runtime import branch_attempts
from ..runtime.branch_attempts import BranchAttempt
from ..runtime.runtime import Runtime
from ..steps import AttemptResult
from .attempts import run_async_attempt
from .loop import step_loop

logger = logging.getLogger("flowgen.aio")

DEFAULT_LIMIT = 1000
"""Async step attempts one process runs at once, by default."""

REPORTER_THREADS = 2
"""Threads that write the reports of finished async attempts (one store write each)."""


class AsyncBranchRunner:
    """Runs a runtime's async step branch attempts on the step loop (see the module docstring)."""

    def __init__(self, runtime: Runtime, limit: int = DEFAULT_LIMIT) -> None:
        self.runtime = runtime
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._idle = threading.Condition()
        self._in_flight = 0
        self._reporter = concurrent.futures.ThreadPoolExecutor(REPORTER_THREADS, "flowgen-async-report")

    @property
    def in_flight(self) -> int:
        """Attempts started and not yet reported."""
        with self._idle:
            return self._in_flight

    def start(self, prepared: BranchAttempt) -> None:
        """Start ``prepared`` on the step loop (waiting for a free slot first); return at once."""
        self._slots.acquire()
        with self._idle:
            self._in_flight += 1
        try:
            coroutine = run_async_attempt(
                prepared.step, prepared.args, prepared.kwargs, prepared.context, self.runtime.invoker
            )
            future = step_loop().submit(coroutine)
        except BaseException:
            self._release(prepared)
            raise
        future.add_done_callback(lambda done: self._reporter.submit(self._report, prepared, done))

    def _report(self, prepared: BranchAttempt, done: concurrent.futures.Future[AttemptResult]) -> None:
        rt = self.runtime
        try:
            if done.cancelled():
                # The loop was stopped under it: say nothing, its heartbeat expires and the run
                # records the attempt as crashed (as if this process had died).
                logger.warning(
                    "run %s: async step %r was cancelled by shutdown", prepared.run_id, prepared.step.name
                )
                return
            result = done.result()
            fault_point("after_step_body", prepared.step.name)
            outcome = branch_attempts.report(rt.serializer, prepared, result, rt.clock.now())
            rt.finish_branch(prepared.run_id, prepared.key, prepared.attempt, outcome, prepared.step.name)
        except Exception:
            # A store outage: the branch heartbeat stops, the run dispatches the attempt again.
            logger.exception(
                "run %s: reporting async step %r (branch %s) failed",
                prepared.run_id,
                prepared.step.name,
                prepared.key,
            )
        finally:
            self._release(prepared)

    def _release(self, prepared: BranchAttempt) -> None:
        if self.runtime.leases is not None:
            self.runtime.leases.drop_branch(prepared.run_id, prepared.key)
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()
        self._slots.release()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no attempt is in flight; ``False`` if ``timeout`` seconds passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        """Wait for the attempts in flight to end and be reported, then stop the reporter."""
        if self.in_flight:
            logger.info("waiting for %d async step(s) to finish", self.in_flight)
        self.wait_idle()
        self._reporter.shutdown(wait=True)


def attach(runtime: Runtime, limit: int) -> AsyncBranchRunner:
    """Run ``runtime``'s async step branches on the step loop from now on; returns the runner."""
    runner = AsyncBranchRunner(runtime, limit)
    runtime.async_steps = runner
    return runner


def detach(runtime: Runtime, runner: AsyncBranchRunner) -> None:
    """Stop taking async attempts through ``runner`` and wait for those in flight (graceful stop)."""
    if runtime.async_steps is runner:
        runtime.async_steps = None
    runner.close()
