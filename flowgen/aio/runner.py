"""Async step attempts on a worker: started by a worker thread, awaited on the step loop.

A worker thread never waits for an ``async def`` step. There are two ways in:

* **inline** (a step of its own, the default): the advance reaches the step's attempt and is
  :class:`~flowgen.runtime.advance.Suspended`; :meth:`AsyncStepRunner.suspend` hands the
  coroutine to the process's :class:`~.loop.StepLoop` and the thread returns to take the next
  message. The run's lease stays held (and renewed by the
  :class:`~flowgen.leases.LeaseKeeper`). When the coroutine ends, a **continuation thread**
  resumes the advance with the result: it journals it, exactly as after a sync inline step,
  and goes on with the workflow (one message and two store writes per one-step run, as for
  sync steps);
* **step branches** (async steps inside ``all_of``/``any_of``, or with ``queue=``): the branch
  actor begins the attempt and :meth:`AsyncStepRunner.start` hands it to the loop; when it ends,
  a continuation thread writes its report into the branch record, which wakes the run. The
  branches of an ``all_of`` therefore await together on the loop.

Continuation threads never run on the loop (store writes block, and the rest of a workflow may
run sync steps). There are as many as the worker has threads, so a workflow that goes on with
a sync step after an async one runs it there as it would on a worker thread.

At most ``limit`` async attempts are in flight per process (``Engine(async_step_limit=...)``);
a thread that would start one more waits for a slot, so a process never takes on more than it is
sized for (a backlog stays in the queue for other workers).

Graceful stop (:meth:`AsyncStepRunner.close`) waits (up to :data:`STOP_TIMEOUT`) for the
attempts in flight to end and be journaled or reported, as a stopping worker waits for its sync
steps. A process that dies with
attempts in flight loses them like sync ones: their leases or heartbeats expire and the runs
record crashed attempts.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..faults import fault_point
from ..runtime import branch_attempts
from ..runtime.advance import Suspended
from ..runtime.branch_attempts import BranchAttempt
from ..runtime.runtime import Runtime
from ..steps import AttemptResult

# .attempts and .loop import asyncio: they are imported where the first async attempt starts, so
# a worker or engine whose steps are all sync never imports asyncio (process start-up, issue 22).

logger = logging.getLogger("flowgen.aio")

DEFAULT_LIMIT = 1000
"""Async step attempts one process runs at once, by default."""

STOP_TIMEOUT = 60.0
"""Seconds a graceful stop waits for the async steps in flight."""

Done = concurrent.futures.Future[AttemptResult]


class AsyncStepRunner:
    """Runs a runtime's async step attempts on the step loop (see the module docstring)."""

    def __init__(self, runtime: Runtime, limit: int = DEFAULT_LIMIT, threads: int = 8) -> None:
        self.runtime = runtime
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._idle = threading.Condition()
        self._in_flight = 0
        self._continuations = concurrent.futures.ThreadPoolExecutor(threads, "flowgen-async-continue")

    @property
    def in_flight(self) -> int:
        """Attempts started and not yet journaled or reported."""
        with self._idle:
            return self._in_flight

    # -- starting ------------------------------------------------------------------------------

    def suspend(self, suspended: Suspended) -> None:
        """Run the attempt ``suspended`` stopped at; resume its advance when it ends."""
        from .attempts import run_async_attempt

        action = suspended.action
        advance = suspended.advance
        leases = self.runtime.leases

        def lost() -> None:
            if leases is not None:
                leases.drop(advance.run_id, advance.epoch)

        self._submit(
            run_async_attempt(action.step, action.args, action.kwargs, action.context, self.runtime.invoker),
            lambda result: self.runtime.resume(suspended, result),
            lost,
            f"run {advance.run_id}: step {action.step.name!r}",
        )

    def start(self, prepared: BranchAttempt) -> None:
        """Run a step branch attempt; write its report into its branch record when it ends."""
        from .attempts import run_async_attempt

        rt = self.runtime

        def report(result: AttemptResult) -> None:
            fault_point("after_step_body", prepared.step.name)
            outcome = branch_attempts.report(rt.serializer, prepared, result, rt.clock.now())
            rt.finish_branch(
                prepared.run_id, prepared.key, prepared.attempt, outcome, prepared.step.name, dict(prepared.record)
            )

        def drop() -> None:
            if rt.leases is not None:
                rt.leases.drop_branch(prepared.run_id, prepared.key)

        coroutine = run_async_attempt(
            prepared.step, prepared.args, prepared.kwargs, prepared.context, rt.invoker
        )
        self._submit(
            coroutine, report, drop, f"run {prepared.run_id}: step {prepared.step.name!r} ({prepared.key})"
        )

    def _submit(
        self, coroutine: Any, then: Callable[[AttemptResult], None], finally_: Callable[[], None], what: str
    ) -> None:
        """Await ``coroutine`` on the loop; call ``then`` with its result on a continuation thread.

        ``finally_`` runs after ``then`` (or instead of it when the loop was stopped under the
        attempt, or it could not be started): it stops renewing the lease or heartbeat.
        """
        from .loop import step_loop

        self._slots.acquire()
        with self._idle:
            self._in_flight += 1
        try:
            future = step_loop().submit(coroutine)
        except BaseException:
            coroutine.close()
            self._slots.release()
            self._finished(finally_)
            raise

        def continue_(done: Done) -> None:
            try:
                if done.cancelled():
                    # The loop was stopped under it: nothing is written. Its lease (or heartbeat)
                    # expires and the run records a crashed attempt, as if this process had died.
                    logger.warning("%s was cancelled by the step loop's shutdown", what)
                    return
                then(done.result())
            except Exception:
                logger.exception("%s: continuing after the async step failed", what)
            finally:
                self._finished(finally_)

        def ended(done: Done) -> None:
            # The slot is the coroutine's: free it now, not after the continuation, which may
            # itself start the run's next async step (and wait for a slot: with the limit
            # reached it would wait for ever for its own).
            self._slots.release()
            try:
                self._continuations.submit(continue_, done)
            except RuntimeError:  # stopped: the lease (or heartbeat) expires, as if the process died
                logger.warning("%s ended after this worker stopped; it will be run again", what)
                self._finished(finally_)

        future.add_done_callback(ended)

    def _finished(self, finally_: Callable[[], None]) -> None:
        try:
            finally_()
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    # -- stopping ------------------------------------------------------------------------------

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no attempt is in flight; ``False`` if ``timeout`` seconds passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Wait (up to ``timeout`` seconds) for the attempts in flight to end and be journaled or
        reported, then stop. Those still running then are left to the next worker, as if this
        process had died: their leases or heartbeats expire and they run again."""
        if self.in_flight:
            logger.info("waiting for %d async step(s) to finish", self.in_flight)
        if not self.wait_idle(timeout):
            logger.warning(
                "%d async step(s) still running after %.0fs; leaving them to be run again",
                self.in_flight,
                timeout,
            )
        self._continuations.shutdown(wait=True)


def attach(runtime: Runtime, limit: int, threads: int) -> AsyncStepRunner:
    """Run ``runtime``'s async steps on the step loop from now on; returns the runner."""
    runner = AsyncStepRunner(runtime, limit, threads)
    runtime.async_steps = runner
    return runner


def detach(runtime: Runtime, runner: AsyncStepRunner) -> None:
    """Stop taking async attempts through ``runner`` and wait for those in flight (graceful stop)."""
    if runtime.async_steps is runner:
        runtime.async_steps = None
    runner.close()
