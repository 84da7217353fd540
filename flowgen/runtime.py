"""Advance runs: the orchestration shared by Dramatiq workers, the embedded engine and tests.

:meth:`Runtime.advance` is what the interpreter actor does with a run id:

1. take the run's lease (a new, higher epoch) and load a snapshot;
2. rebuild the workflow generator and replay the journal into it (or take the live generator
   this process parked last time, skipping replay);
3. loop on the interpreter's decisions: resolve the pending command from what is known now
   (a step result, a due timer, an event in the inbox, a finished child...), run a step
   inline, or park the run until something wakes it;
4. write each step boundary as **one** fenced commit: close the entry, open the next one.

It knows the :class:`~flowgen.stores.base.Store` contract and a transport (two callables that
send "advance run X" and "run step Y of run X" messages), never Redis or Dramatiq themselves.
:meth:`Runtime.run_branch` runs a step that was dispatched as its own message (members of
``all_of``/``any_of``, steps with ``queue=``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import logging
import os
import random
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NoReturn

import attrs

from . import slots
from .clock import Clock
from .combinators import LeafResult, resolve
from .commands import (
    AllOf,
    AnyOf,
    ChildRun,
    Compensate,
    ContinueAsNew,
    DeterministicValue,
    Sleep,
    SleepUntil,
    StepCall,
    WaitForEvent,
    leaves_of,
)
from .context import StepContext
from .decoding import (
    check_report,
    decode_call,
    decode_plain,
    leaf_result,
    leaf_slot,
    recorded,
    run_error,
    seal_leaf_outcome,
)
from .decorators import Registry, Step
from .error_records import error_record, error_summary, rebuild_error
from .errors import (
    CancelledError,
    ChildWorkflowError,
    CommitRefusedError,
    CompensatedError,
    EventTimeoutError,
    FlowgenError,
    JournalLimitError,
    LeaseLostError,
    NonDeterminismError,
    RunFinishedError,
    RunIdConflictError,
    SerializationError,
)
from .faults import fault_point
from .interpreter import Complete, Decision, Execute, Fail, Outcome, Recorded, Replayer
from .journal import (
    ATTEMPT_CRASHED,
    ATTEMPT_ERROR,
    ATTEMPT_OK,
    ATTEMPT_TIMEOUT,
    Attempt,
    Entry,
    LeafOutcome,
    LeafState,
    OpenEntry,
)
from .leases import LeaseKeeper
from .serialization import Serializer
from .steps import (
    StepInvoker,
    call_step_function,
    crash_error,
    decide_after_failure,
    is_retryable,
    run_attempt,
)
from .stores.base import (
    CANCEL_DELIVERED,
    CANCEL_REQUESTED,
    CANCELLED,
    COMPENSATING,
    COMPLETED,
    FAILED,
    KEEP,
    PAUSED,
    RUNNING,
    WAITING,
    Commit,
    CommitResult,
    ControlResult,
    Finish,
    InboxEvent,
    NewRun,
    Park,
    Snapshot,
    Store,
)

logger = logging.getLogger("flowgen.runtime")

EnqueueRuns = Callable[[Sequence[str]], None]

CACHE_HORIZON = 60.0
"""Keep a parked run's live generator only if it should wake within this many seconds (or is
waiting for its own parallel steps or children): long sleepers and event waits cost no memory."""
EnqueueBranch = Callable[[str, str, int, "str | None"], None]


@attrs.define
class Settings:
    """Engine settings the runtime needs.

    Attributes:
        lease_ttl: seconds a run's lease lasts without renewal.
        grace: seconds a run may sit in the ready index after an enqueue before the reconciler
            enqueues it again (also: how long a dispatched step message may wait unstarted).
        journal_warn: log a warning when a run's journal passes this many entries.
        journal_limit: fail a run whose journal reaches this many entries.
        cache_size: live generators kept per process so a resumed run skips replay.
    """

    lease_ttl: float = 10.0
    grace: float = 15.0
    journal_warn: int = 2000
    journal_limit: int = 10000
    cache_size: int = 256


def fingerprint(workflow: str, args_text: str) -> str:
    """Digest of a run's workflow and encoded arguments, to detect a reused run id."""
    return hashlib.sha256(f"{workflow}\0{args_text}".encode()).hexdigest()[:32]


def encode_call(
    serializer: Serializer, run_id: str, workflow: str, args: Sequence[Any], kwargs: dict[str, Any]
) -> str:
    """Encode a workflow call's arguments for a new run."""
    return serializer.encode(
        {"args": list(args), "kwargs": dict(kwargs)},
        run_id=run_id,
        slot="args",
        what=f"the arguments of workflow {workflow!r}",
    )


@attrs.define
class _Cached:
    replayer: Replayer
    epoch: int
    position: int


class GeneratorCache:
    """A bounded LRU of parked live generators, so a run resumed here skips replay."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, run_id: str) -> _Cached | None:
        with self._lock:
            return self._items.pop(run_id, None)

    def put(self, run_id: str, item: _Cached) -> None:
        if self.size <= 0:
            item.replayer.close()
            return
        evicted: list[_Cached] = []
        with self._lock:
            old = self._items.pop(run_id, None)
            if old is not None:
                evicted.append(old)
            self._items[run_id] = item
            while len(self._items) > self.size:
                evicted.append(self._items.popitem(last=False)[1])
        for stale in evicted:
            stale.replayer.close()

    def __len__(self) -> int:
        return len(self._items)


@attrs.frozen
class _Resolved:
    entry: Entry
    outcome: Outcome


class _Held:
    """A step did not start because a pause or cancellation is pending: re-check the controls."""


_HELD = _Held()


@attrs.frozen
class _Wait:
    """Park until an event of ``types``, the ``timer``, or (``internal``) a branch or child wakes us."""

    types: tuple[str, ...] = ()
    timer: float | None = None
    internal: bool = False


class _Done(Exception):
    """The advance ended (finished, parked or failed the run); unwinds the loop."""


class _WaitSet:
    def __init__(self) -> None:
        self.types: list[str] = []
        self.timer: float | None = None
        self.internal = False

    def at(self, when: float | None) -> None:
        if when is not None and (self.timer is None or when < self.timer):
            self.timer = when

    def to_wait(self) -> _Wait:
        return _Wait(tuple(self.types), self.timer, self.internal)


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
    ) -> None:
        self.store = store
        self.serializer = serializer
        self.registry = registry
        self.clock = clock
        self.settings = settings
        self.enqueue = enqueue
        self.enqueue_branch = enqueue_branch
        self.leases = leases
        self.invoker = invoker
        self.rng = rng or random.Random()
        self.cache = GeneratorCache(settings.cache_size)
        self.draining = threading.Event()
        self._owner_prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._owners = itertools.count(1)

    # -- entry points ------------------------------------------------------------------------

    def advance(self, run_id: str) -> None:
        """Advance one run as far as it can go now; a no-op if another worker holds it."""
        owner = f"{self._owner_prefix}-{next(self._owners)}"
        cached = self.cache.take(run_id)
        offset = cached.position if cached is not None else 0
        snapshot = self.store.acquire(run_id, owner, self.settings.lease_ttl, self.clock.now(), offset)
        if snapshot is None:
            if cached is not None:
                self.cache.put(run_id, cached)
            return
        fault_point("after_acquire", run_id)
        if self.leases is not None:
            self.leases.hold(run_id, snapshot.epoch)
        try:
            _Advance(self, snapshot, cached).run()
        except LeaseLostError as error:
            logger.warning("run %s: %s", run_id, error)
        except Exception:
            logger.exception("run %s: advancing failed; it stays ready and will be retried", run_id)
            self.store.release(run_id, snapshot.epoch)
        finally:
            if self.leases is not None:
                self.leases.drop(run_id, snapshot.epoch)

    def run_branch(self, run_id: str, key: str, attempt: int) -> None:
        """Run one attempt of a step dispatched as its own message, and report its outcome."""
        now = self.clock.now()
        record = self.store.branch_begin(run_id, key, attempt, self.settings.lease_ttl, now)
        if record is None:
            return
        if self.leases is not None:
            self.leases.hold_branch(run_id, key, attempt)
        try:
            outcome = self._branch_outcome(run_id, key, attempt, record)
        finally:
            if self.leases is not None:
                self.leases.drop_branch(run_id, key)
        woken = self.store.branch_finish(run_id, key, attempt, outcome, self.clock.now(), self.settings.grace)
        fault_point("after_branch_report", str(record.get("step", "")))
        if woken:
            self.enqueue([run_id])

    def _branch_outcome(self, run_id: str, key: str, attempt: int, record: dict[str, Any]) -> dict[str, Any]:
        started = self.clock.now()
        generation = int(record.get("gen", 0))
        position, _, path = key.partition("/")
        slot = leaf_slot(generation, int(position), path)
        try:
            step = self.registry.step(record["step"])
            args, kwargs = decode_call(
                self.serializer, record["args"], run_id=run_id, slot=slots.branch_args(generation, key)
            )
        except FlowgenError as error:
            return {
                "ok": False,
                "error": self.serializer.error_record(error, run_id=run_id, slot=slot),
                "retryable": False,
                # Arguments that fail their seal or cannot be decoded fail the run, not the step.
                "fatal": isinstance(error, SerializationError),
                "started": started,
                "finished": self.clock.now(),
            }
        context = StepContext(run_id, record.get("workflow", ""), step.name, key, attempt, generation)
        result = run_attempt(step, args, kwargs, context, self.invoker)
        fault_point("after_step_body", step.name)
        finished = self.clock.now()
        if result.ok:
            try:
                text = self.serializer.encode(
                    result.value, run_id=run_id, slot=slot, what=f"the result of step {step.name!r}"
                )
            except SerializationError as error:
                return {
                    "ok": False,
                    "error": self.serializer.error_record(error, run_id=run_id, slot=slot),
                    "fatal": True,
                    "started": started,
                    "finished": finished,
                }
            return {"ok": True, "value": text, "started": started, "finished": finished}
        assert result.error is not None
        return {
            "ok": False,
            "error": self.serializer.error_record(result.error, result.traceback, run_id=run_id, slot=slot),
            "retryable": is_retryable(step, result.error),
            "timeout": result.timed_out,
            "started": started,
            "finished": finished,
        }

    # -- helpers used by _Advance -----------------------------------------------------------

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
        result = self.store.control(run_id, action, self.clock.now(), self.settings.grace)
        wake = ([run_id] if result.wake else []) + ([result.parent] if result.parent else [])
        if wake:
            self.enqueue(wake)
        if action in ("cancel", "terminate"):
            for child in self.store.children(run_id):
                try:
                    self.request_control(child, action)
                except RunFinishedError:
                    continue
        return result

    def step_for(self, call: StepCall) -> Step:
        step = call.step if isinstance(call.step, Step) else self.registry.step(call.step_name)
        return step


class _Advance:
    """One advance of one run under one lease epoch (see :meth:`Runtime.advance`)."""

    def __init__(self, runtime: Runtime, snapshot: Snapshot, cached: _Cached | None) -> None:
        self.rt = runtime
        self.run_record = snapshot.run
        self.run_id = snapshot.run.run_id
        self.epoch = snapshot.epoch
        self.position = snapshot.run.journal_length
        self.signals = snapshot.run.signals
        self.open = snapshot.open
        self.inbox = _InboxView()
        self.inbox.loaded(_count(snapshot.run.waiting), snapshot.inbox, ())
        self.branches = snapshot.branches
        self.snapshot = snapshot
        self.cached = cached
        self.pending: list[Entry] = []
        self.consume: list[tuple[str, str]] = []
        self.branch_writes: dict[str, dict[str, Any] | None] = {}
        self.after_commit: list[Callable[[], None]] = []
        self.replayer: Replayer | None = None
        self.warned = False
        self.status_change: str | None = None
        self.pause_requested = snapshot.run.pause_requested
        self.cancel_state = snapshot.run.cancel_requested
        self.deliver_cancel = False
        self.interrupted = snapshot.interrupted
        self.ran_a_step = False
        self.recovering = False

    # -- setup ------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.rt.clock.now()

    @property
    def next_position(self) -> int:
        return self.position + len(self.pending)

    def _start_replayer(self) -> Decision:
        cached = self.cached
        if cached is not None and cached.epoch + 1 == self.epoch and cached.position == self.position:
            self.replayer = cached.replayer
            assert self.replayer.decision is not None
            return self.replayer.decision
        if cached is not None:
            cached.replayer.close()
        journal = self.snapshot.journal
        if cached is not None:
            journal = self.rt.store.read_journal(self.run_id, 0)
        workflow = self.rt.registry.workflow(self.run_record.workflow)
        args, kwargs = decode_call(
            self.rt.serializer, self.run_record.args, run_id=self.run_id, slot=slots.ARGS
        )
        self.replayer = Replayer(workflow(*args, **kwargs))
        return self.replayer.replay(self._recorded(entry) for entry in journal)

    def _recorded(self, entry: Entry) -> Recorded:
        return recorded(self.rt.serializer, self.run_id, self.run_record.generation, entry)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            if self.run_record.status == PAUSED:
                # Paused while nobody advanced it: there is nothing to do until resume().
                self.rt.store.release(self.run_id, self.epoch)
                return
            try:
                decision = self._start_replayer()
            except (FlowgenError, TypeError) as error:
                self._finish_failed(error)
            else:
                try:
                    self._loop(decision)
                except SerializationError as error:
                    # A value that cannot be decoded or encoded while evaluating (an event payload
                    # whose seal does not match, arguments of a parallel step JSON cannot encode)
                    # fails the run; letting it escape would fail every advance, forever.
                    self._fail_without_append(error)
        except _Done:
            return

    def _loop(self, decision: Decision) -> None:
        while True:
            if isinstance(decision, Complete):
                self._complete(decision.output)
            if isinstance(decision, Fail):
                self._fail(decision.error)
                continue
            assert isinstance(decision, Execute)
            if self.rt.draining.is_set():
                self._hand_over()
            if self.cancel_state == CANCEL_REQUESTED:
                result: _Resolved | _Wait | _Held = self._cancel_here(decision.position, decision.command)
            elif self.pause_requested:
                self._park(_Wait(), status=PAUSED)
                continue
            elif isinstance(decision.command, ContinueAsNew):
                decision = self._continue_as_new(decision.command)
                continue
            else:
                self._check_journal_size(decision.position)
                result = self._evaluate(decision.position, decision.command)
            if isinstance(result, _Resolved):
                self.pending.append(result.entry)
                self.open = None
                assert self.replayer is not None
                decision = self.replayer.send(result.outcome)
                continue
            if isinstance(result, _Held):
                continue
            self._park(result)

    def _hand_over(self) -> NoReturn:
        """This worker is stopping: journal what is decided and give the run back, ready to go on."""
        if self.pending or self.consume or self.branch_writes:
            self._flush()
        if self.replayer is not None:
            self.replayer.close()
        self.rt.store.release(self.run_id, self.epoch)
        self.rt.enqueue([self.run_id])
        raise _Done

    def _check_journal_size(self, position: int) -> None:
        settings = self.rt.settings
        if position >= settings.journal_limit:
            self._finish_failed(
                JournalLimitError(
                    f"run {self.run_id!r} reached {position} journal entries, the limit "
                    f"(journal_limit={settings.journal_limit}); a workflow that loops forever should "
                    "call `yield flowgen.continue_as_new(...)` every so often to start a fresh journal"
                )
            )
        if position >= settings.journal_warn and not self.warned:
            self.warned = True
            logger.warning(
                "run %s has %d journal entries (warning threshold %d, limit %d); consider "
                "flowgen.continue_as_new()",
                self.run_id,
                position,
                settings.journal_warn,
                settings.journal_limit,
            )

    # -- writing ----------------------------------------------------------------------------

    def _flush(
        self,
        *,
        open_entry: Any = KEEP,
        park: Park | None = None,
        finish: Finish | None = None,
        status: str | None = None,
        continue_as_new: str | None = None,
        hold_if_requested: bool = False,
    ) -> CommitResult:
        if status is None and finish is None and park is None:
            status, self.status_change = self.status_change, None
        change = Commit(
            run_id=self.run_id,
            epoch=self.epoch,
            position=self.position,
            append=list(self.pending),
            open=open_entry,
            consume=list(self.consume),
            branches=dict(self.branch_writes),
            park=park,
            finish=finish,
            status=status,
            continue_as_new=continue_as_new,
            cancel_delivered=self.deliver_cancel,
            hold_if_requested=hold_if_requested,
        )
        try:
            result = self.rt.store.commit(change, self.now, self.rt.settings.grace)
        except CommitRefusedError as error:
            self._commit_refused(error, finish)
        if not result.ok:
            if self.replayer is not None:
                self.replayer.close()
            raise LeaseLostError(
                f"commit at position {self.position} under epoch {self.epoch} was refused ({result.reason}); "
                "another worker has advanced this run"
            )
        fault_point("after_commit", self.run_id)
        self.deliver_cancel = False
        self.pause_requested = result.pause_requested
        if self.cancel_state != CANCEL_DELIVERED:
            self.cancel_state = result.cancel_requested
        self.position += len(self.pending)
        self.pending = []
        self.consume = []
        for key, value in self.branch_writes.items():
            if value is None:
                self.branches.pop(key, None)
            else:
                self.branches[key] = value
        self.branch_writes = {}
        callbacks, self.after_commit = self.after_commit, []
        for callback in callbacks:
            callback()
        if result.wake:
            self.rt.enqueue(list(result.wake))
        return result

    def _complete(self, output: Any) -> NoReturn:
        try:
            text = self.rt.serializer.encode(
                output,
                run_id=self.run_id,
                slot=slots.output(self.run_record.generation),
                what=f"the return value of workflow {self.run_record.workflow!r}",
            )
        except SerializationError as error:
            self._finish_failed(error)
        status = CANCELLED if self.cancel_state == CANCEL_DELIVERED else COMPLETED
        self._flush(open_entry=None, finish=Finish(status, output=text))
        raise _Done

    def _finish_failed(self, error: BaseException) -> NoReturn:
        # Nothing pending is appended when the run fails because of the advance itself (a bad
        # result, non-determinism): only what was already decided before stays.
        if self.replayer is not None:
            self.replayer.close()
        status = CANCELLED if self.cancel_state == CANCEL_DELIVERED else FAILED
        record = self.rt.serializer.error_record(
            error, run_id=self.run_id, slot=slots.run_error(self.run_record.generation)
        )
        self._flush(open_entry=None, finish=Finish(status, error=record))
        raise _Done

    def _commit_refused(self, error: CommitRefusedError, finish: Finish | None) -> NoReturn:
        """A commit the store refused (not fenced off) is never retried: the run fails without it."""
        if finish is not None and finish.status != COMPLETED and not self.pending:
            raise error  # even the failure cannot be written: the run stays ready, logged
        self.after_commit = []
        self.branch_writes = {}
        self._fail_without_append(error)

    # -- control: cancellation, pause, continue-as-new ----------------------------------------

    def _cancel_here(self, position: int, command: Any) -> _Resolved:
        """Resolve the command at ``position`` with ``CancelledError`` (raised into the workflow).

        Members of ``all_of``/``any_of`` still running are abandoned like losers; child runs
        are cancelled by whoever requested the cancellation (it cascades to children).
        """
        for key in list(self.branches):
            if key.startswith(f"{position}/"):
                self.branch_writes[key] = None
        self.deliver_cancel = True
        self.cancel_state = CANCEL_DELIVERED
        error = CancelledError(
            f"run {self.run_id!r} was cancelled while at {command.describe()} (position {position})"
        )
        return self._resolved_error(position, command, error)

    def _continue_as_new(self, command: ContinueAsNew) -> Decision:
        """End this journal and start the workflow over with new arguments, in this same advance."""
        workflow = self.rt.registry.workflow(self.run_record.workflow)
        try:
            args = encode_call(self.rt.serializer, self.run_id, workflow.name, command.args, command.kwargs)
        except SerializationError as error:
            self._fail_without_append(error)
        self.pending = []
        self._flush(open_entry=None, continue_as_new=args)
        if self.replayer is not None:
            self.replayer.close()
        self.position = 0
        self.open = None
        self.warned = False
        self.run_record = attrs.evolve(
            self.run_record, args=args, generation=self.run_record.generation + 1, journal_length=0
        )
        self.replayer = Replayer(workflow(*command.args, **command.kwargs))
        return self.replayer.start()

    def _fail_without_append(self, error: BaseException) -> NoReturn:
        self.pending = []
        self.consume = []
        self._finish_failed(error)

    def _park(self, wait: _Wait, status: str = WAITING) -> None:
        parked = self._flush(
            open_entry=self.open, park=Park(self.signals, wait.types, wait.timer, status)
        ).parked
        if parked:
            assert self.replayer is not None
            if wait.internal or (wait.timer is not None and wait.timer - self.now <= CACHE_HORIZON):
                self.rt.cache.put(self.run_id, _Cached(self.replayer, self.epoch, self.position))
            else:
                self.replayer.close()
            raise _Done
        self._refresh(wait.types)

    def _refresh(self, event_types: Sequence[str]) -> None:
        """Re-read signals, inboxes and branches; events this advance already took are skipped."""
        wanted = _count(event_types)
        for event_type, _event_id in self.consume:
            if event_type in wanted:
                wanted[event_type] += 1
        snapshot = self.rt.store.load(self.run_id, _expand(wanted), None)
        self.signals = snapshot.run.signals
        self.inbox = _InboxView()
        self.inbox.loaded(wanted, snapshot.inbox, {event_id for _, event_id in self.consume})
        self.branches = snapshot.branches
        self.run_record = snapshot.run
        self.pause_requested = snapshot.run.pause_requested
        if self.cancel_state != CANCEL_DELIVERED:
            self.cancel_state = snapshot.run.cancel_requested

    # -- evaluating one command -------------------------------------------------------------

    def _evaluate(self, position: int, command: Any) -> _Resolved | _Wait | _Held:
        if isinstance(command, DeterministicValue):
            return self._deterministic(position, command)
        if isinstance(command, Compensate):
            result = self._compensate(position, None)
            if isinstance(result, _Resolved):
                self.status_change = RUNNING
            return result
        if not isinstance(command, (StepCall, Sleep, SleepUntil, WaitForEvent, ChildRun, AllOf, AnyOf)):
            return self._resolved_error(
                position,
                command,
                FlowgenError(f"{command.describe()} is not supported by this version of flowgen"),
            )
        open_entry = self._open_for(position, command)
        if isinstance(command, StepCall) and not self.rt.step_for(command).queue:
            return self._inline_step(position, command, open_entry)
        needed = _count(leaf.type for _, leaf in leaves_of(command) if isinstance(leaf, WaitForEvent))
        if any(not self.inbox.knows(t, n) for t, n in needed.items()):
            self._refresh(_expand(needed))
        return self._evaluate_tree(position, command, open_entry)

    def _open_for(self, position: int, command: Any) -> OpenEntry:
        if self.open is not None and self.open.position == position:
            if self.open.kind != command.kind or self.open.name != command.name:
                self._fail_without_append(
                    NonDeterminismError(
                        position, f"{self.open.kind} {self.open.name!r}", f"{command.kind} {command.name!r}"
                    )
                )
            return self.open
        now = self.now
        leaves = {path: self._new_leaf(leaf, now) for path, leaf in leaves_of(command)}
        self.open = OpenEntry(position, command.kind, command.name, now, leaves)
        return self.open

    @staticmethod
    def _new_leaf(leaf: Any, now: float) -> LeafState:
        state = LeafState(kind=leaf.kind, name=leaf.name)
        if isinstance(leaf, Sleep):
            state.due = now + leaf.seconds
        elif isinstance(leaf, SleepUntil):
            state.due = leaf.timestamp
        elif isinstance(leaf, WaitForEvent) and leaf.timeout is not None:
            state.due = now + leaf.timeout
        if state.due is not None:
            state.info["due"] = state.due
        return state

    def _deterministic(self, position: int, command: DeterministicValue) -> _Resolved:
        now = self.now
        value: Any
        if command.name == "now":
            value = datetime.fromtimestamp(now, timezone.utc)
        elif command.name == "uuid4":
            value = uuid.uuid4()
        else:
            value = self.rt.rng.random()
        text, decoded = self.rt.serializer.roundtrip(
            value, run_id=self.run_id, slot=self._slot(position), what=command.describe()
        )
        entry = Entry(position, command.kind, command.name, True, value=text, started=now, finished=now)
        return _Resolved(entry, Outcome.success(decoded))

    def _slot(self, position: int, path: str = "") -> str:
        return slots.position(self.run_record.generation, position, path)

    def _resolved_error(self, position: int, command: Any, error: BaseException) -> _Resolved:
        record = self.rt.serializer.error_record(error, run_id=self.run_id, slot=self._slot(position))
        now = self.now
        entry = Entry(position, command.kind, command.name, False, error=record, started=now, finished=now)
        return _Resolved(entry, Outcome.failure(rebuild_error(record)))

    # -- inline steps -----------------------------------------------------------------------

    def _inline_step(self, position: int, call: StepCall, open_entry: OpenEntry) -> _Resolved | _Wait | _Held:
        state = open_entry.leaves[""]
        result = self._run_inline(position, "", call, state, open_entry)
        if isinstance(result, (_Wait, _Held)):
            return result
        self._seal(position, "", call, state, result)
        return self._close(position, open_entry, state, result, finished=result.finished)

    def _run_inline(
        self, position: int, path: str, call: StepCall, state: LeafState, open_entry: OpenEntry
    ) -> LeafOutcome | _Wait | _Held:
        """Run a step's attempts in this thread until it succeeds, fails for good or must back off."""
        step = self.rt.step_for(call)
        slot = self._slot(position, path)
        running = state.running_attempt()
        if running is not None or (self.interrupted and not self.ran_a_step):
            # A worker died during this step: the attempt it recorded as started, or, if it had
            # recorded nothing yet (see below), the first step this advance runs.
            if running is None:
                running = Attempt(number=len(state.attempts) + 1, started=self.now)
                state.attempts.append(running)
            running.status = ATTEMPT_CRASHED
            running.finished = self.now
            self.interrupted = False
            self.recovering = True
            crashed = crash_error(step, state)
            if crashed is not None:
                return LeafOutcome(False, error=crashed, finished=self.now)
        while True:
            if state.next_at is not None and state.next_at > self.now:
                return _Wait(timer=state.next_at)
            attempt = Attempt(number=len(state.attempts) + 1, started=self.now, epoch=self.epoch)
            state.attempts.append(attempt)
            next_at, state.next_at = state.next_at, None
            # The first step an advance runs need not record its start first: if this worker
            # dies during it, the next lease holder is told the run was interrupted (see
            # Snapshot.interrupted) and charges the crash to that same step. Every later attempt
            # is recorded as started in the commit that closes the previous step (one write per
            # step boundary), and so is any attempt after a crash, so crashes keep counting.
            records_start = self.ran_a_step or self.recovering
            if records_start and self._flush(open_entry=open_entry, hold_if_requested=True).held:
                # A pause or cancellation arrived: this attempt does not start.
                state.attempts.pop()
                state.next_at = next_at
                return _HELD
            self.ran_a_step = True
            context = StepContext(
                self.run_id,
                self.run_record.workflow,
                step.name,
                slots.key(position, path),
                attempt.number,
                self.run_record.generation,
            )
            result = run_attempt(step, call.args, call.kwargs, context, self.rt.invoker)
            fault_point("after_step_body", step.name)
            if self.rt.leases is not None and self.rt.leases.is_lost(self.run_id, self.epoch):
                raise LeaseLostError(f"lost the lease while step {step.name!r} ran; its result is discarded")
            attempt.finished = self.now
            if result.ok:
                try:
                    text = self.rt.serializer.encode(
                        result.value, run_id=self.run_id, slot=slot, what=f"the result of step {step.name!r}"
                    )
                except SerializationError as error:
                    self._fail_without_append(error)
                attempt.status = ATTEMPT_OK
                return LeafOutcome(True, value=text, finished=attempt.finished)
            assert result.error is not None
            record = self.rt.serializer.error_record(
                result.error, result.traceback, run_id=self.run_id, slot=slot
            )
            attempt.status = ATTEMPT_TIMEOUT if result.timed_out else ATTEMPT_ERROR
            attempt.error = error_summary(record)
            decision = decide_after_failure(
                step, state, record, is_retryable(step, result.error), self.rt.rng
            )
            if not decision.retry:
                return LeafOutcome(False, error=decision.error, finished=attempt.finished)
            state.next_at = attempt.finished + decision.delay

    def _close(
        self,
        position: int,
        open_entry: OpenEntry,
        state: LeafState,
        outcome: LeafOutcome,
        *,
        finished: float,
        info: dict[str, Any] | None = None,
    ) -> _Resolved:
        """Turn a single command's open entry and its outcome into the journal entry that closes it."""
        entry = Entry(
            position,
            open_entry.kind,
            open_entry.name,
            outcome.ok,
            value=outcome.value,
            error=outcome.error,
            started=open_entry.started,
            finished=finished,
            attempts=tuple(a.to_dict() for a in state.attempts),
            info=info if info is not None else {},
        )
        return _Resolved(entry, self._decode_plain(entry))

    def _cancel_loser(self, child_id: str) -> None:
        """Cancel a child run that lost an ``any_of`` (or was abandoned by a failed ``all_of``)."""
        try:
            self.rt.request_control(child_id, "cancel")
        except RunFinishedError:
            return

    # -- saga compensation ------------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        """End the run with ``error``, first running the compensations of its completed steps."""
        position = self.next_position
        resuming = (
            self.open is not None and self.open.position == position and self.open.kind == Compensate.kind
        )
        if not resuming and not self._compensable(position):
            self._finish_failed(error)
        if self.cancel_state == CANCEL_REQUESTED:
            # Already ending: a cancellation only makes the final status "cancelled".
            self.deliver_cancel = True
            self.cancel_state = CANCEL_DELIVERED
        if self.pause_requested:
            self._park(_Wait(), status=PAUSED)
            return
        result = self._compensate(position, error)
        if isinstance(result, _Held):
            return
        if isinstance(result, _Resolved):
            self.pending.append(result.entry)
            self.open = None
            self._finish_failed(_compensated_error(error, result.outcome.value))
        self._park(result)

    def _compensate(self, position: int, failure: BaseException | None) -> _Resolved | _Wait | _Held:
        """Run the compensations of completed steps in reverse order, each a durable inline step.

        The compensations to run are fixed when the entry opens (in its leaves, each naming
        the position it undoes), so a run resumed after a crash finishes the same list. A
        compensation that fails after its own retries is recorded and the next one still runs.
        """
        open_entry = self.open if self.open is not None and self.open.position == position else None
        if open_entry is not None and self.run_record.status != COMPENSATING:
            self.status_change = COMPENSATING
        if open_entry is None:
            targets = self._compensable(position)
            leaves = {}
            for index, (key, call) in enumerate(targets):
                undo = self.rt.step_for(call).compensate
                assert undo is not None
                leaves[str(index)] = LeafState(
                    kind="step", name=undo.name, info={"for": key, "undoes": call.step_name}
                )
            open_entry = OpenEntry(position, Compensate.kind, Compensate.name, self.now, leaves)
            self.open = open_entry
            self._flush(open_entry=open_entry, status=COMPENSATING)
        calls = self._compensation_calls(open_entry)
        for path in sorted(open_entry.leaves, key=int):
            state = open_entry.leaves[path]
            if state.outcome is None:
                result = self._run_inline(position, path, calls[path], state, open_entry)
                if isinstance(result, (_Wait, _Held)):
                    return result
                state.outcome = self._seal(position, path, calls[path], state, result)
        summary = []
        records = {}
        for path in sorted(open_entry.leaves, key=int):
            state = open_entry.leaves[path]
            assert state.outcome is not None
            error = None
            if not state.outcome.ok:
                record = self.rt.serializer.open_record(
                    state.outcome.error, run_id=self.run_id, slot=self._slot(position, path)
                )
                error = str(record.get("message", ""))
            summary.append(
                {
                    "step": state.name,
                    "undoes": state.info["undoes"],
                    "for": state.info["for"],
                    "ok": state.outcome.ok,
                    "error": error,
                }
            )
            records[path] = {
                "kind": state.kind,
                "name": state.name,
                **state.outcome.to_dict(),
                "attempts": [a.to_dict() for a in state.attempts],
                "info": state.info,
            }
        text, decoded = self.rt.serializer.roundtrip(
            summary, run_id=self.run_id, slot=self._slot(position), what="a compensation summary"
        )
        entry = Entry(
            position,
            Compensate.kind,
            Compensate.name,
            True,
            value=text,
            started=open_entry.started,
            finished=self.now,
            leaves=records,
            info={"trigger": "failure" if failure is not None else "explicit"},
        )
        return _Resolved(entry, Outcome.success(decoded))

    def _journal_so_far(self) -> list[Entry]:
        return [*self.rt.store.read_journal(self.run_id), *self.pending]

    def _compensable(self, before: int) -> list[tuple[str, StepCall]]:
        """Completed steps before ``before`` that declare a compensation and were not compensated yet.

        Returned newest first (the order compensations run in), keyed ``"<pos>"`` or
        ``"<pos>/<path>"`` for members of ``all_of``/``any_of``.
        """
        assert self.replayer is not None
        history = self.replayer.history
        found: list[tuple[str, StepCall]] = []
        done: set[str] = set()
        entries = self._journal_so_far()
        for entry in entries[:before]:
            if entry.kind == Compensate.kind:
                done.update(leaf["info"]["for"] for leaf in entry.leaves.values())
                continue
            command = history[entry.position] if entry.position < len(history) else None
            if isinstance(command, StepCall) and entry.ok:
                found.append((str(entry.position), command))
            elif isinstance(command, (AllOf, AnyOf)):
                for path, leaf in leaves_of(command):
                    if isinstance(leaf, StepCall) and entry.leaves.get(path, {}).get("ok"):
                        found.append((f"{entry.position}/{path}", leaf))
        result = [
            (key, call)
            for key, call in found
            if key not in done and self.rt.step_for(call).compensate is not None
        ]
        return list(reversed(result))

    def _compensation_calls(self, open_entry: OpenEntry) -> dict[str, StepCall]:
        """Build the call of each compensation leaf: the undo step with the original arguments."""
        assert self.replayer is not None
        entries = {entry.position: entry for entry in self._journal_so_far()}
        calls = {}
        for path, state in open_entry.leaves.items():
            key = state.info["for"]
            position_text, _, leaf_path = key.partition("/")
            position = int(position_text)
            command = self.replayer.history[position]
            original = dict(leaves_of(command))[leaf_path] if leaf_path else command
            entry = entries[position]
            value_text = entry.leaves[leaf_path].get("value") if leaf_path else entry.value
            result = (
                None
                if value_text is None
                else self.rt.serializer.decode(
                    value_text, run_id=self.run_id, slot=self._slot(position, leaf_path)
                )
            )
            undo = self.rt.step_for(original).compensate
            assert undo is not None
            kwargs = dict(original.kwargs)
            if _accepts_result(undo.fn):
                kwargs["result"] = result
            calls[path] = undo(*original.args, **kwargs)
        return calls

    # -- leaves: sleeps, events, parallel steps, children ------------------------------------

    def _evaluate_tree(self, position: int, command: Any, open_entry: OpenEntry) -> _Resolved | _Wait:
        waits = _WaitSet()
        results: dict[str, LeafResult] = {}
        outcomes: dict[str, LeafOutcome] = {}
        events: dict[str, str] = {}
        handed_out: dict[str, int] = {}
        for path, leaf in leaves_of(command):
            state = open_entry.leaves[path]
            decided_before = state.outcome is not None
            outcome = self._leaf_outcome(position, path, leaf, state, waits, events, handed_out)
            if outcome is not None and not decided_before:
                self._seal(position, path, leaf, state, outcome)
            if outcome is not None:
                outcomes[path] = outcome
                results[path] = self._leaf_result(position, path, state, outcome)
        winners: dict[str, int] = {}
        resolution = resolve(command, results, winners)
        if resolution is None:
            return waits.to_wait()
        for path, state in open_entry.leaves.items():
            if path not in resolution.used and state.child is not None and state.outcome is None:
                self.after_commit.append(functools.partial(self._cancel_loser, state.child))
        for path in sorted(resolution.used):
            if path in events:
                event_type = open_entry.leaves[path].name
                self.consume.append((event_type, events[path]))
                self.inbox.take(event_type, events[path])
        for key in list(self.branches):
            if key.startswith(f"{position}/"):
                self.branch_writes[key] = None
        now = self.now
        if not isinstance(command, (AllOf, AnyOf)):
            state = open_entry.leaves[""]
            return self._close(position, open_entry, state, outcomes[""], finished=now, info=dict(state.info))
        leaves_record = {}
        for path in sorted(resolution.used):
            state = open_entry.leaves[path]
            record = {"kind": state.kind, "name": state.name, **outcomes[path].to_dict()}
            if state.attempts:
                record["attempts"] = [a.to_dict() for a in state.attempts]
            if state.info:
                record["info"] = state.info
            leaves_record[path] = record
        result = resolution.result
        entry = Entry(
            position,
            command.kind,
            command.name,
            result.ok,
            value=None,
            error=None
            if result.ok or result.error is None
            else self.rt.serializer.error_record(result.error, run_id=self.run_id, slot=self._slot(position)),
            started=open_entry.started,
            finished=now,
            leaves=leaves_record,
            winners=winners,
        )
        outcome_value = (
            Outcome.success(result.value)
            if result.ok
            else Outcome.failure(result.error or FlowgenError("failed"))
        )
        return _Resolved(entry, outcome_value)

    def _leaf_result(self, position: int, path: str, state: LeafState, outcome: LeafOutcome) -> LeafResult:
        return leaf_result(
            self.rt.serializer, self.run_id, self.run_record.generation, position, path, outcome
        )

    def _seal(
        self, position: int, path: str, leaf: Any, state: LeafState, outcome: LeafOutcome
    ) -> LeafOutcome:
        """Seal an outcome decided in this advance (never one read from the store)."""
        gen = self.run_record.generation
        return seal_leaf_outcome(self.rt.serializer, self.run_id, gen, position, path, leaf, state, outcome)

    def _decode_plain(self, entry: Entry) -> Outcome:
        return decode_plain(self.rt.serializer, self.run_id, self.run_record.generation, entry)

    def _leaf_outcome(
        self,
        position: int,
        path: str,
        leaf: Any,
        state: LeafState,
        waits: _WaitSet,
        events: dict[str, str],
        handed_out: dict[str, int],
    ) -> LeafOutcome | None:
        if state.outcome is not None:
            return state.outcome
        now = self.now
        if isinstance(leaf, (Sleep, SleepUntil)):
            assert state.due is not None
            if now >= state.due:
                return LeafOutcome(True, value="null", finished=state.due)
            waits.at(state.due)
            return None
        if isinstance(leaf, WaitForEvent):
            return self._event_outcome(leaf, path, state, waits, events, handed_out)
        if isinstance(leaf, ChildRun):
            return self._child_outcome(position, path, leaf, state, waits)
        assert isinstance(leaf, StepCall)
        return self._branch_step_outcome(position, path, leaf, state, waits)

    def _event_outcome(
        self,
        leaf: WaitForEvent,
        path: str,
        state: LeafState,
        waits: _WaitSet,
        events: dict[str, str],
        handed_out: dict[str, int],
    ) -> LeafOutcome | None:
        available = self.inbox.events.get(leaf.type, [])
        index = handed_out.get(leaf.type, 0)
        if index < len(available):
            event = available[index]
            if state.due is None or event.sent <= state.due:
                handed_out[leaf.type] = index + 1
                events[path] = event.id
                state.info["event_id"] = event.id
                return LeafOutcome(True, value=event.payload, finished=event.sent)
        if state.due is not None and self.now >= state.due:
            error = EventTimeoutError(
                f"no event {leaf.type!r} arrived within {leaf.timeout:g}s (the wait timed out at {state.due:.3f})"
            )
            return LeafOutcome(False, error=error_record(error, ""), finished=state.due)
        waits.types.append(leaf.type)
        waits.at(state.due)
        return None

    def _child_id(self, position: int, path: str) -> str:
        """The default id of a child run: ``<parent>/<pos>[.<path>]``, with ``g<n>/`` after a restart.

        The generation keeps a restarted (or continued-as-new) parent from finding the child
        runs of its previous generation at the same positions.
        """
        generation = self.run_record.generation
        prefix = f"{self.run_id}/g{generation}/" if generation else f"{self.run_id}/"
        return prefix + str(position) + (f".{path}" if path else "")

    def _child_outcome(
        self, position: int, path: str, leaf: ChildRun, state: LeafState, waits: _WaitSet
    ) -> LeafOutcome | None:
        store = self.rt.store
        if state.child is None:
            child_id = leaf.run_id or self._child_id(position, path)
            try:
                args = encode_call(self.rt.serializer, child_id, leaf.workflow_name, leaf.args, leaf.kwargs)
            except SerializationError as error:
                return LeafOutcome(False, error=error_record(error, ""), finished=self.now)
            new = NewRun(
                child_id,
                leaf.workflow_name,
                args,
                fingerprint(leaf.workflow_name, args),
                self.now,
                parent=self.run_id if leaf.wait else None,
            )
            created, record = store.create_run(new, self.now, self.rt.settings.grace)
            if created:
                self.rt.enqueue([child_id])
            elif record.fingerprint != new.fingerprint:
                conflict = RunIdConflictError(
                    f"child run id {child_id!r} is already used by a run of {record.workflow!r} with other arguments"
                )
                return LeafOutcome(False, error=error_record(conflict, ""), finished=self.now)
            state.child = child_id
        if not leaf.wait:
            text = self.rt.serializer.encode(
                state.child, run_id=self.run_id, slot=self._slot(position, path), what="a child run id"
            )
            return LeafOutcome(True, value=text, finished=self.now)
        child = store.get_run(state.child)
        if child is None or not child.is_finished:
            waits.internal = True
            return None
        finished = child.finished or self.now
        slot = self._slot(position, path)
        if child.status == COMPLETED:
            value = self.rt.serializer.decode(
                child.output, run_id=child.run_id, slot=slots.output(child.generation)
            )
            text = self.rt.serializer.encode(
                value, run_id=self.run_id, slot=slot, what=f"the result of child run {child.run_id!r}"
            )
            return LeafOutcome(True, value=text, finished=finished)
        cause = run_error(self.rt.serializer, child)
        failure = ChildWorkflowError(
            f"child run {child.run_id!r} of {child.workflow!r} ended {child.status}: {cause}"
        )
        failure.__cause__ = cause
        return LeafOutcome(False, error=error_record(failure, ""), finished=finished)

    def _branch_step_outcome(
        self, position: int, path: str, call: StepCall, state: LeafState, waits: _WaitSet
    ) -> LeafOutcome | None:
        step = self.rt.step_for(call)
        key = f"{position}/{path}"
        now = self.now
        grace = self.rt.settings.grace
        if state.dispatched:
            branch = self.branches.get(key) or {}
            report = branch.get("r") if branch.get("d") == state.dispatched else None
            if report is not None:
                return self._branch_report(step, state, report, waits, self._slot(position, path))
            if branch.get("s") == state.dispatched:
                heartbeat = float(branch.get("hb", 0))
                if heartbeat >= now:
                    waits.at(heartbeat)
                    waits.internal = True
                    return None
                state.attempts.append(
                    Attempt(
                        state.dispatched,
                        float(branch.get("started", state.dispatched_at or now)),
                        ATTEMPT_CRASHED,
                        now,
                    )
                )
                state.dispatched = 0
                crashed = crash_error(step, state)
                if crashed is not None:
                    return LeafOutcome(False, error=crashed, finished=now)
            else:
                sent = state.dispatched_at or now
                waits.internal = True
                if now - sent < grace:
                    waits.at(sent + grace)
                    return None
                self._dispatch(position, path, call, state, state.dispatched)
                waits.at(now + grace)
                return None
        if state.next_at is not None and state.next_at > now:
            waits.at(state.next_at)
            return None
        self._dispatch(position, path, call, state, len(state.attempts) + 1)
        waits.at(now + grace)
        waits.internal = True
        return None

    def _branch_report(
        self, step: Step, state: LeafState, report: dict[str, Any], waits: _WaitSet, slot: str
    ) -> LeafOutcome | None:
        check_report(report, run_id=self.run_id, slot=slot)
        finished = float(report.get("finished", self.now))
        error = (
            None
            if report["ok"]
            else self.rt.serializer.open_record(report.get("error"), run_id=self.run_id, slot=slot)
        )
        if report.get("fatal"):
            self._fail_without_append(rebuild_error(error))
        status = ATTEMPT_OK if report["ok"] else ATTEMPT_TIMEOUT if report.get("timeout") else ATTEMPT_ERROR
        state.attempts.append(
            Attempt(
                state.dispatched,
                float(report.get("started", finished)),
                status,
                finished,
                None if error is None else error_summary(error),
            )
        )
        state.dispatched = 0
        if report["ok"]:
            state.outcome = LeafOutcome(True, value=report["value"], finished=finished)
            return state.outcome
        assert error is not None
        decision = decide_after_failure(step, state, error, bool(report.get("retryable")), self.rt.rng)
        if not decision.retry:
            state.outcome = LeafOutcome(False, error=decision.error, finished=finished)
            return state.outcome
        state.next_at = finished + decision.delay
        waits.at(state.next_at)
        return None

    def _dispatch(self, position: int, path: str, call: StepCall, state: LeafState, attempt: int) -> None:
        key = f"{position}/{path}"
        step = self.rt.step_for(call)
        args = self.rt.serializer.encode(
            {"args": list(call.args), "kwargs": dict(call.kwargs)},
            run_id=self.run_id,
            slot=slots.branch_args(self.run_record.generation, key),
            what=f"the arguments of step {step.name!r}",
        )
        state.dispatched = attempt
        state.dispatched_at = self.now
        state.next_at = None
        self.branch_writes[key] = {
            "d": attempt,
            "step": step.name,
            "args": args,
            "workflow": self.run_record.workflow,
            "gen": self.run_record.generation,
        }
        queue = step.queue
        self.after_commit.append(lambda: self.rt.enqueue_branch(self.run_id, key, attempt, queue))


def _accepts_result(fn: Callable[..., Any]) -> bool:
    """Whether a compensation function takes the undone step's result (a ``result`` parameter)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "result" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _compensated_error(error: BaseException, summary: list[dict[str, Any]]) -> CompensatedError:
    ran = "; ".join(
        f"{item['step']} undoing {item['undoes']} at position {item['for']}: "
        + ("ok" if item["ok"] else f"failed: {item['error']}")
        for item in summary
    )
    compensated = CompensatedError(
        f"{type(error).__name__}: {error}. Compensations run, newest first: {ran or 'none'}", summary
    )
    compensated.__cause__ = error
    return compensated


class _InboxView:
    """What this advance knows of the run's inboxes: the first events of some types.

    ``knows(type, n)`` is true when ``n`` events of ``type`` are in view or the last read
    returned everything the store had. Events taken by this advance (to be consumed by its
    next commit) leave the view, so two waits on one type never get the same event.
    """

    def __init__(self) -> None:
        self.events: dict[str, list[InboxEvent]] = {}
        self.complete: set[str] = set()

    def loaded(self, asked: dict[str, int], events: dict[str, list[InboxEvent]], taken: Any) -> None:
        for event_type, count in asked.items():
            found = events.get(event_type, [])
            if len(found) < count:
                self.complete.add(event_type)
            self.events[event_type] = [event for event in found if event.id not in taken]

    def knows(self, event_type: str, count: int) -> bool:
        return len(self.events.get(event_type, ())) >= count or event_type in self.complete

    def take(self, event_type: str, event_id: str) -> None:
        self.events[event_type] = [e for e in self.events.get(event_type, []) if e.id != event_id]


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _expand(counts: dict[str, int]) -> list[str]:
    return [name for name, count in counts.items() for _ in range(count)]
