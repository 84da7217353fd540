"""The :class:`Runtime`: what a process does with each message a transport delivers.

* ``advance(run_id)`` (the **advance actor**'s message): take the run's lease, load a snapshot,
  and advance the run as far as it can go now (:class:`~.advance.Advance`), releasing the lease
  if advancing itself fails so another attempt can be made;
* ``run_branch(run_id, key, attempt)`` (the **branch actor**'s message): run one attempt of a
  step branch (a step inside ``all_of``/``any_of``, or a ``queue=`` step) and report its outcome
  in the branch record, waking the run.

It knows the :class:`~flowgen.stores.base.Store` contract and two callables of the transport
(send "advance run X", send "run attempt N of branch K of run X"), never Redis or Dramatiq.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ..clock import Clock
from ..commands import StepCall
from ..decorators import Registry, Step
from ..errors import LeaseLostError
from ..faults import fault_point
from ..leases import LeaseKeeper
from ..log_context import advancing, set_workflow
from ..observability import facts
from ..observability.observer import Observers
from ..operations import control, drive
from ..serialization import Serializer
from ..steps import AttemptResult, StepInvoker, call_step_function, run_attempt
from ..stores.base import ControlResult, Store
from . import branch_attempts
from .advance import Advance, Suspended
from .branch_attempts import AsyncSteps
from .cache import GeneratorCache
from .lane import PriorityLane
from .settings import Settings
from .wakeups import HORIZON, Wakeups

logger = logging.getLogger("flowgen.runtime")

EnqueueRuns = Callable[[Sequence[str]], None]
"""Sends one "advance run X" message per run id."""
EnqueueBranch = Callable[[str, str, int, "str | None"], None]
"""Sends "run attempt N of branch K of run X" on a queue (``None``: the transport's own)."""


HANDED_PER_MESSAGE = 50
"""Due runs a worker thread advances at most before the message it took (see :mod:`.wakeups`)."""


class Runtime:
    """Advances runs against a store; one per engine (and per worker process)."""

    def __init__(
        self,
        *,
        store: Store,
        serializer: Serializer,
        registry: Registry,
        clock: Clock,
        settings: Settings,
        enqueue: EnqueueRuns,
        enqueue_branch: EnqueueBranch,
        leases: LeaseKeeper | None = None,
        invoker: StepInvoker = call_step_function,
        rng: random.Random | None = None,
        observers: Observers | None = None,
    ) -> None:
        self.store = store
        self.serializer = serializer
        self.registry = registry
        self.clock = clock
        self.settings = settings
        self.enqueue = enqueue
        self.enqueue_branch = enqueue_branch
        self.leases = leases
        self.observers = observers if observers is not None else Observers()
        self.invoker = invoker
        self.rng = rng or random.Random()
        self.cache = GeneratorCache(settings.cache_size)
        self.async_steps: AsyncSteps | None = None
        """Where async step branches run without holding a thread (set when workers start)."""
        self.wakeups: Wakeups | None = None
        """Precise wake-ups of runs parked for a moment on a limit (set when workers start)."""
        self.draining = threading.Event()
        self.continue_woken = False
        """Advance a run a step branch's report woke in the thread that ran the branch (set
        when this process's workers consume the advance queue; see :meth:`finish_branch`)."""
        self.timer_set: Callable[[float], None] | None = None
        """Told the due time of each timer an advance of this process parks a run on (the
        timer poller fires it then rather than at its next poll; set when workers start)."""
        self._owner_prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._owners = itertools.count(1)
        self.lane = PriorityLane(store.take_lane, clock.now)

    # -- the two messages --------------------------------------------------------------------

    def advance(self, run_id: str) -> None:
        """Advance one run as far as it can go now; a no-op if another worker holds it.

        A prioritized run waiting in the priority lane is advanced first (see :mod:`.lane`), and
        before it the runs whose precise wake-up fell due while every thread was busy (see
        :mod:`.wakeups`).
        """
        wakeups = self.wakeups
        if wakeups is None:
            self._advance_message(run_id)
            return
        with wakeups.working():
            for _ in range(HANDED_PER_MESSAGE):
                due = wakeups.take()
                if due is None:
                    break
                if due != run_id:
                    with advancing(due):
                        self._advance(due)
            self._advance_message(run_id)

    def _advance_message(self, run_id: str) -> None:
        urgent = self.lane.next_run()
        if urgent is not None and urgent != run_id:
            with advancing(urgent):
                self._advance(urgent)
        with advancing(run_id):
            self._advance(run_id)

    def _advance(self, run_id: str) -> None:
        owner = f"{self._owner_prefix}-{next(self._owners)}"
        cached = self.cache.take(run_id)
        offset = cached.position if cached is not None else 0
        snapshot = self.store.acquire(run_id, owner, self.settings.lease_ttl, self.clock.now(), offset)
        if snapshot is None:
            if cached is not None:
                self.cache.put(run_id, cached)
            return
        fault_point("after_acquire", run_id)
        set_workflow(snapshot.run.workflow)
        if self.leases is not None:
            self.leases.hold(run_id, snapshot.epoch)
        advance = Advance(self, snapshot, cached)
        if self.observers and facts.is_first_advance(snapshot.run):
            # Told after this advance's first commit: one that commits nothing leaves it to the next.
            advance.report_after_commit(facts.run_started(snapshot.run, self.clock.now(), snapshot.flow))
        self._drive(advance, advance.run)

    def resume(self, suspended: Suspended, result: AttemptResult) -> None:
        """Continue an advance that was suspended at an async step attempt, with its result."""
        advance = suspended.advance
        self._drive(advance, functools.partial(advance.resume, suspended.decision, suspended.action, result))

    def _drive(self, advance: Advance, go_on: Callable[[], None]) -> None:
        """Run (or resume) ``advance`` and deal with how it ends: parked, suspended, failed."""
        run_id, epoch = advance.run_id, advance.epoch
        suspended = False
        try:
            go_on()
        except Suspended as pending:
            # An async step: the step loop runs it and calls resume(); the lease stays held.
            assert self.async_steps is not None
            self.async_steps.suspend(pending)
            suspended = True
        except LeaseLostError as error:
            logger.warning("run %s: %s", run_id, error)
            self.observers.lease_lost(run_id, advance.run_record.workflow)
        except Exception:
            if advance.unrecorded_attempt:
                # A step ran whose start and result are not journaled (its commit failed: a
                # store outage). Releasing the lease would erase the only trace of that
                # attempt; left to expire, it makes the next holder record it as crashed.
                logger.exception(
                    "run %s: advancing failed after a step ran whose result could not be journaled; "
                    "its lease is left to expire so that the attempt is recorded as crashed",
                    run_id,
                )
                return
            logger.exception("run %s: advancing failed; it stays ready and will be retried", run_id)
            self.store.release(run_id, epoch)
        finally:
            if self.leases is not None and not suspended:
                self.leases.drop(run_id, epoch)

    def run_branch(self, run_id: str, key: str, attempt: int) -> None:
        """Run attempt ``attempt`` of the step branch ``key`` of a run, and report its outcome.

        An ``async def`` step is handed to the process's step loop when this runtime has one
        (:attr:`async_steps`): this thread returns at once and the loop reports the outcome.
        """
        wakeups = self.wakeups
        with advancing(run_id), wakeups.working() if wakeups is not None else contextlib.nullcontext():
            self._run_branch(run_id, key, attempt)

    def _run_branch(self, run_id: str, key: str, attempt: int) -> None:
        now = self.clock.now()
        record = self.store.branch_begin(run_id, key, attempt, self.settings.lease_ttl, now)
        if record is None:
            self._wake_when_due(run_id, key, now)
            return
        if self.leases is not None:
            self.leases.hold_branch(run_id, key, attempt)
        handed_over = False
        try:
            prepared = branch_attempts.prepare(
                self.serializer, self.registry, run_id, key, attempt, record, self.clock.now()
            )
            if isinstance(prepared, dict):
                outcome = prepared
            elif prepared.step.is_async and self.async_steps is not None:
                self.async_steps.start(prepared)
                handed_over = True
                return
            else:
                step = prepared.step
                result = run_attempt(step, prepared.args, prepared.kwargs, prepared.context, self.invoker)
                fault_point("after_step_body", step.name)
                outcome = branch_attempts.report(self.serializer, prepared, result, self.clock.now())
        finally:
            if self.leases is not None and not handed_over:
                self.leases.drop_branch(run_id, key)
        self.finish_branch(
            run_id, key, attempt, outcome, str(record.get("step", "")), record, continue_here=True
        )

    def _wake_when_due(self, run_id: str, key: str, now: float) -> None:
        """A branch attempt that did not start (refused by a limit, or a stale message): if it is
        parked for a moment, wake its run precisely when its slot or token is due (its durable
        timer, set by the store, is the fallback; see :mod:`.wakeups`)."""
        wakeups = self.wakeups
        if wakeups is None:
            return
        due = self.store.branch_parked_until(run_id, key)
        if due is not None and now < due <= now + HORIZON:
            wakeups.at(run_id, due)

    def finish_branch(
        self,
        run_id: str,
        key: str,
        attempt: int,
        outcome: dict[str, Any],
        step: str,
        record: dict[str, Any] | None = None,
        *,
        continue_here: bool = False,
    ) -> None:
        """Write a branch attempt's report into its record; wake the run if the report does.

        ``record`` (the branch record) names the workflow and trace the observers are told.
        ``continue_here``: a woken run is advanced in this thread (a worker thread that just
        ran the attempt, in a process that consumes the advance queue and knows the run's
        workflow) rather than sent as a message for another worker to fetch: the run
        moves on without a message's round trips and hand-offs. Its wake-up is committed
        first, so a crash before it takes the lease leaves the run ready for the reconciler,
        as a lost message would; a run another worker holds is left to it (taking the lease
        fails), as a duplicate message would be.
        """
        woken = self.store.branch_finish(run_id, key, attempt, outcome, self.clock.now(), self.settings.grace)
        if self.observers:
            record = record if record is not None else {"step": step}
            self.observers.attempt_ended(
                facts.branch_attempt(run_id, key, attempt, record, outcome, record.get("trace"))
            )
        fault_point("after_branch_report", step)
        if woken:
            if continue_here and run_id in woken and self._continues(record):
                others = [woken_id for woken_id in woken if woken_id != run_id]
                if others:
                    self.enqueue(others)
                self.advance(run_id)
            else:
                self.enqueue(woken)

    def _continues(self, record: dict[str, Any] | None) -> bool:
        """Whether a run woken by a branch of ``record`` is advanced in this thread (see :meth:`finish_branch`)."""
        workflow = record.get("workflow") if record is not None else None
        return (
            self.continue_woken
            and not self.draining.is_set()
            and isinstance(workflow, str)
            and workflow in self.registry.workflows
        )

    # -- what the engine and the advance loop use ----------------------------------------------

    def drain(self) -> None:
        """Stop taking runs further: each run being advanced here stops after its current step.

        Called when the worker shuts down gracefully, so a SIGTERM does not wait for whole
        workflows: what each run decided is journaled, its lease released, and it is enqueued
        again for another worker (or this one after a restart).
        """
        self.draining.set()

    def request_control(self, run_id: str, action: str) -> ControlResult:
        """Pause, resume, cancel or terminate a run; cancellations cascade to its child runs.

        Runs the request makes ready (and parents a termination wakes) are enqueued.
        """
        operation = control(run_id, action, self.clock.now, self.settings.grace, self.observers)
        return drive(operation, self.store, self.enqueue)

    def step_for(self, call: StepCall) -> Step:
        """The declared step a call names (the one it was built from, else the registry's)."""
        return call.step if isinstance(call.step, Step) else self.registry.step(call.step_name)
