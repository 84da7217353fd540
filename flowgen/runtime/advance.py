"""The advance loop: one advance of one run under one lease epoch (see :meth:`.Runtime.advance`).

:class:`Advance` is the shell around the evaluators. It knows no command family:

1. **replay**: rebuild the workflow generator and feed it the journal (or take the live
   generator this process parked last time);
2. **evaluate**: for each command the interpreter says comes next, ask :mod:`.dispatch` what to
   do (an :data:`~.actions.Action`);
3. **apply** the action: journal a resolved command and send its outcome into the workflow, run
   a step attempt, read more facts, create child runs, park or finish the run;
4. **commit** in :meth:`Advance._flush`: every write of the advance is one fenced
   :class:`~flowgen.stores.base.Commit` (close the entry, open the next one, consume events,
   write branch records, park or finish), refused if another worker took the run over.

What it knows of the run (and shows the evaluators as their :class:`~.view.RunView`) is in
its base class, :class:`~.state.AdvanceState`.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, NoReturn

import attrs

from .. import slots
from ..commands import Command
from ..errors import (
    CommitRefusedError,
    FlowgenError,
    LeaseLostError,
    NonDeterminismError,
    RunFinishedError,
    SerializationError,
    StoreUnavailableError,
)
from ..faults import fault_point
from ..interpreter import Complete, Decision, Execute, Fail, Replayer
from ..limits import RateLimited
from ..log_context import set_position
from ..observability import facts
from ..observability.observer import CONTINUED, RunParked
from ..run_logs import log_attempt, log_finished
from ..schemas import SchemaError
from ..signatures import bind_call
from ..status import RunStatus
from ..steps import AttemptResult, run_attempt
from ..stores import base as ops
from ..stores.base import CANCEL_DELIVERED, CANCEL_REQUESTED, Commit, CommitResult, Finish, Operation, Park
from . import dispatch, gates
from ._typing import assert_never
from .actions import (
    Action,
    Begin,
    DeliverCancel,
    Dispatch,
    FailRun,
    Held,
    Load,
    Resolve,
    Restart,
    RunAttempt,
    SetStatus,
    StartChildren,
    Wait,
    Warn,
)
from .cache import CACHE_HORIZON, Cached
from .replay import replay
from .state import AdvanceState
from .view import FinishedAttempt

logger = logging.getLogger("flowgen.runtime")


_SETS_STATUS = (ops.SetStatus, Park, Finish)
"""Operations that set the run's status (a pending status change waits for them)."""


class _Done(Exception):
    """The advance ended (finished, parked or failed the run); unwinds the loop."""


class Suspended(Exception):
    """The advance reached an inline ``async def`` step attempt: it runs on the step loop.

    Raised out of :meth:`Advance.run` (or :meth:`Advance.resume`) so that the worker thread
    returns at once; the run's lease stays held (and renewed) and the advance is continued by
    :meth:`Advance.resume` with the attempt's result (:mod:`flowgen.aio.runner`). Nothing about
    the attempt is written before it ends, exactly as for a sync inline step.
    """

    def __init__(self, advance: Advance, decision: Execute | Fail, action: RunAttempt) -> None:
        super().__init__(f"run {advance.run_id}: step {action.step.name!r} awaits on the step loop")
        self.advance = advance
        self.decision = decision
        self.action = action


class Advance(AdvanceState):
    """One advance of one run under one lease epoch; see the module docstring."""

    attempt_started = 0.0
    """When the step attempt this advance runs (or is suspended at) started (for its observers)."""

    # -- replay -----------------------------------------------------------------------------

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
        opened = self.snapshot.open
        parked = None if opened is None else (opened.position, opened.kind, opened.name)
        self.replayer, decision = replay(
            self.rt.registry, self.rt.serializer, self.run_record, journal, parked=parked
        )
        return decision

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            if self.run_record.status == RunStatus.PAUSED:
                # Paused while nobody advanced it: there is nothing to do until resume().
                self.rt.store.release(self.run_id, self.epoch)
                return
            late = gates.not_started(self)
            if late is not None:
                self._finish_failed(late)
            try:
                decision = self._start_replayer()
            except StoreUnavailableError:
                raise  # an outage, not the workflow's error: the advance is retried later
            except (FlowgenError, TypeError) as error:
                self._finish_failed(error)
            else:
                try:
                    self._loop(decision)
                except (SerializationError, NonDeterminismError) as error:
                    # A value that cannot be decoded or encoded while evaluating (an event payload
                    # whose seal does not match, arguments of a step branch JSON cannot encode),
                    # or code that yields another command than the open entry records, fails the
                    # run; letting it escape would fail every advance, forever.
                    self._fail_without_append(error)
        except _Done:
            return

    def _loop(self, decision: Decision) -> None:
        while True:
            if isinstance(decision, Complete):
                self._complete(decision.output)
            if isinstance(decision, Fail):
                decision = self._settle(
                    decision, dispatch.decide_failure(self, self.next_position, decision.error)
                )
                continue
            if self.rt.draining.is_set():
                self._hand_over()
            set_position(decision.position)
            timeout = gates.at_deadline(self, decision.position, decision.command)
            if timeout is not None:
                decision = self._settle(decision, timeout)
                continue
            decision = self._settle(decision, dispatch.decide(self, decision.position, decision.command))

    def _settle(self, decision: Execute | Fail, action: Action) -> Decision:
        """Apply actions until the command is decided; return the interpreter's next decision.

        After an action that does not end the command the command is evaluated again (with the
        new facts). Returns ``decision`` itself when the run must be looked at again from the
        top (a park was refused because something arrived, a step attempt was held by a pause
        or a cancellation).
        """
        while True:
            match action:
                case RunAttempt():
                    self._run_attempt(action, decision)
                case Resolve():
                    self._resolve(action, decision.command if isinstance(decision, Execute) else None)
                    assert self.replayer is not None
                    return self.replayer.send(action.outcome)
                case Wait():
                    self._park(action)
                    return decision
                case Held():
                    return decision
                case Restart():
                    return self._continue_as_new(action)
                case FailRun():
                    self._fail_run(action)
                case Load():
                    self._load(action)
                    if action.event_types and (self.cancel_state == CANCEL_REQUESTED or self.pause_requested):
                        # The inbox read also brought a cancel or pause that arrived since the
                        # controls were checked (and the signals count that includes it: parking
                        # on it would bury the request). Honour it now.
                        return decision
                case StartChildren():
                    for message in action.dispatch:
                        self._dispatch(message)
                    self._start_children(action)
                case Begin():
                    self.open = action.entry
                    self._flush(ops.SetOpen(action.entry), ops.SetStatus(action.status))
                case SetStatus():
                    self.status_change = action.status
                case DeliverCancel():
                    self.deliver_cancel = True
                    self.cancel_state = CANCEL_DELIVERED
                case Warn():
                    self.warned = True
                    settings = self.rt.settings
                    logger.warning(
                        "run %s has %d journal entries (warning threshold %d, limit %d); consider "
                        "flowgen.continue_as_new()",
                        self.run_id,
                        action.position,
                        settings.journal_warn,
                        settings.journal_limit,
                    )
                case _:
                    assert_never(action)
            action = self._next_action(decision)

    def _next_action(self, decision: Execute | Fail) -> Action:
        """Evaluate the command again with the facts the last action brought (then forget them)."""
        if isinstance(decision, Execute):
            action = dispatch.evaluate(self, decision.position, decision.command)
        else:
            action = dispatch.decide_failure(self, self.next_position, decision.error)
        self.ran = self.held = None
        return action

    def resume(self, decision: Execute | Fail, action: RunAttempt, result: AttemptResult) -> None:
        """Go on after the async step attempt this advance was :class:`Suspended` at has ended
        (giving back the step slots it held while it ran on the loop)."""
        try:
            try:
                limits = gates.gates_of(action)
                if limits:
                    gates.release(self, limits)
                self._attempt_ran(action, result)
                self._loop(self._settle(decision, self._next_action(decision)))
            except (SerializationError, NonDeterminismError) as error:
                self._fail_without_append(error)
        except _Done:
            return

    def _hand_over(self) -> NoReturn:
        """This worker is stopping: journal what is decided and give the run back, ready to go on."""
        if self.pending or self.consume or self.branch_writes:
            self._flush()
        if self.replayer is not None:
            self.replayer.close()
        self.rt.store.release(self.run_id, self.epoch)
        self.rt.enqueue([self.run_id])
        raise _Done

    # -- applying actions -------------------------------------------------------------------

    def _resolve(self, resolved: Resolve, command: Command | None = None) -> None:
        """Journal a decided command (with the next commit) and forget the facts of its position.

        ``command`` (the one yielded) tells the observers which waits the entry ends."""
        for message in resolved.dispatch:
            self._dispatch(message)
        for key in resolved.drop_branches:
            self.branch_writes[key] = None
        for child in resolved.cancel_children:
            # Requested now, before the commit that journals the resolution, not after it: a
            # request made after that commit was lost for good when it failed or the process
            # died in between (the parent was finished and nothing asked again), leaving the
            # loser waiting forever. Requested first, a failure fails this advance instead
            # (the parent stays ready, the next advance resolves again and asks again);
            # asking twice is a no-op.
            self._cancel_loser(child)
        for event_type, event_id in resolved.consume:
            self.consume.append((event_type, event_id))
            self.inbox.take(event_type, event_id)
        if resolved.deliver_cancel:
            self.deliver_cancel = True
            self.cancel_state = CANCEL_DELIVERED
        if resolved.status is not None:
            self.status_change = resolved.status
        self.pending.append(resolved.entry)
        if self.observing:
            for fact in facts.waits_ended(self.run_record, resolved.entry, command, self.now):
                self.report_after_commit(fact)
        self.open = None
        if self.children or self.started or self.journal is not None:
            self.children, self.started, self.journal = {}, {}, None
            self.child_histories = {}

    def _dispatch(self, message: Dispatch) -> None:
        """Write a branch record with the next commit and send its message after it."""
        if self.run_record.trace and self.observing:
            message.record["trace"] = self.run_record.trace
        self.branch_writes[message.key] = message.record
        self.after_commit.append(
            functools.partial(
                self.rt.enqueue_branch, self.run_id, message.key, message.attempt, message.queue
            )
        )

    def _run_attempt(self, action: RunAttempt, decision: Execute | Fail) -> None:
        """Run one step attempt in this thread (committing its start first when asked to), once
        its step limits and rate limits let it start (else the run parks, see :mod:`.gates`).

        An async step's attempt runs on the step loop instead: the advance is
        :class:`Suspended` (and resumed by :meth:`resume`).
        """
        limits = gates.gates_of(action)
        if limits:
            retry = gates.take(self, limits)
            if retry is not None:
                self._delay_attempt(action, retry)
                return
        suspended = False
        try:
            if action.records_start and self._start_attempt().held:
                self.held = action
                return
            self.attempt_started = self.rt.clock.now()
            if action.step.is_async and self.rt.async_steps is not None:
                suspended = True  # its slots stay held (under the lease) until resume()
                raise Suspended(self, decision, action)
            result = run_attempt(action.step, action.args, action.kwargs, action.context, self.rt.invoker)
        finally:
            if limits and not suspended:
                gates.release(self, limits)
        self._attempt_ran(action, result)

    def _attempt_ran(self, action: RunAttempt, result: AttemptResult) -> None:
        """Report the attempt that ran (in this thread, or on the step loop) to the evaluator;
        one that raised ``RateLimited`` is taken back and tried again later (:mod:`.gates`)."""
        if isinstance(result.error, RateLimited):
            if result.error.key is not None:
                self.rt.store.block_key(result.error.key, self.now + result.error.retry_after)
            self._delay_attempt(action, self.now + result.error.retry_after)
            return
        log_attempt(action.context, result)
        self.unrecorded_attempt = not action.records_start
        fault_point("after_step_body", action.step.name)
        if self.rt.leases is not None and self.rt.leases.is_lost(self.run_id, self.epoch):
            raise LeaseLostError(
                f"lost the lease while step {action.step.name!r} ran; its result is discarded"
            )
        self.ran = FinishedAttempt(action, result, self.now)
        if self.observing:
            context = action.context
            started = self.attempt_started
            opened = self.open.started if self.open is not None else started
            fact = facts.inline_attempt(
                self.run_record, context.step, context.position, context.attempt, opened, started, self.ran.finished, result
            )
            self.report_after_commit(fact)

    def report_after_commit(self, fact: object) -> None:
        """Tell the observers ``fact`` once the next commit has journaled it (never if it fails)."""
        if fact is None:
            return
        method = getattr(self.rt.observers, facts.METHODS[type(fact)])
        self.after_commit.append(functools.partial(method, fact))

    def _delay_attempt(self, action: RunAttempt, until: float) -> None:
        """The attempt may not start before ``until`` (a limit or a rate limit): take it back
        (no retry spent, nothing journaled) and park the run on a timer; a refused park (something
        arrived) returns, and the step is evaluated again."""
        gates.take_back(action)
        self.ran = self.held = None
        self._park(Wait(timer=gates.wake_precisely(self, until)))

    def _cancel_loser(self, child_id: str) -> None:
        """Cancel a child run that lost an ``any_of`` (or was abandoned by a failed ``all_of``);
        one that already finished is left as it is."""
        try:
            self.rt.request_control(child_id, "cancel")
        except RunFinishedError:
            return

    def _fail_run(self, action: FailRun) -> NoReturn:
        if action.discard_pending:
            self.pending = []
            self.consume = []
        if action.append is not None:
            self.pending.append(action.append)
            self.open = None
        self._finish_failed(action.error)

    # -- writing ----------------------------------------------------------------------------

    def _start_attempt(self) -> CommitResult:
        """Commit the open entry recording a step attempt about to start (held by a pending pause
        or cancellation: then the attempt does not start)."""
        assert self.open is not None
        return self._flush(ops.StartAttempt(self.open))

    def _flush(self, *operations: Operation) -> CommitResult:
        """Commit what this advance decided (entries, consumed events, branch writes, a pending
        status change, a delivered cancellation), then ``operations`` (an open entry, a park,
        a finish, ...). A pending status change waits while ``operations`` set the status."""
        decided: list[Operation] = [ops.AppendEntries(tuple(self.pending))] if self.pending else []
        if self.consume:
            decided += [ops.ConsumeEvent(event_type, event_id) for event_type, event_id in self.consume]
        if self.branch_writes:
            decided += [ops.WriteBranch(key, record) for key, record in self.branch_writes.items()]
        status = None
        for operation in operations:
            if isinstance(operation, ops.SetStatus):
                status = operation.status
                break
        if self.status_change is not None and not any(isinstance(op, _SETS_STATUS) for op in operations):
            status, self.status_change = self.status_change, None
            decided.append(ops.SetStatus(status))
        if self.deliver_cancel:
            decided.append(ops.DeliverCancel())
        decided += operations
        change = Commit(self.run_id, self.epoch, self.position, decided)
        try:
            result = self.rt.store.commit(change, self.now, self.rt.settings.grace)
        except CommitRefusedError as error:
            self._commit_refused(error, next((op for op in operations if isinstance(op, Finish)), None))
        if not result.ok:
            if self.replayer is not None:
                self.replayer.close()
            raise LeaseLostError(
                f"commit at position {self.position} under epoch {self.epoch} was refused ({result.reason}); "
                "another worker has advanced this run"
            )
        fault_point("after_commit", self.run_id)
        self.unrecorded_attempt = False
        if status is not None:
            self.run_record.status = status
        self.deliver_cancel = False
        self.pause_requested = result.pause_requested
        if self.cancel_state != CANCEL_DELIVERED:
            self.cancel_state = result.cancel_requested
        if self.pending:
            self.position += len(self.pending)
            self.pending = []
        if self.consume:
            self.consume = []
        if self.branch_writes:
            for key, value in self.branch_writes.items():
                if value is None:
                    self.branches.pop(key, None)
                else:
                    self.branches[key] = value
            self.branch_writes = {}
        if self.after_commit:
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
        status = RunStatus.CANCELLED if self.cancel_state == CANCEL_DELIVERED else RunStatus.COMPLETED
        self._flush(Finish(status, output=text))
        log_finished(self.run_record, status, None)
        self._report_end(status, None)
        raise _Done

    def _finish_failed(self, error: BaseException) -> NoReturn:
        # Nothing pending is appended when the run fails because of the advance itself (a bad
        # result, non-determinism): only what was already decided before stays.
        if self.replayer is not None:
            self.replayer.close()
        status = RunStatus.CANCELLED if self.cancel_state == CANCEL_DELIVERED else RunStatus.FAILED
        record = self.rt.serializer.error_record(
            error, run_id=self.run_id, slot=slots.run_error(self.run_record.generation)
        )
        self._flush(Finish(status, error=record))
        log_finished(self.run_record, status, record)
        self._report_end(status, record)
        raise _Done

    def _report_end(self, status: str, error: dict[str, Any] | None) -> None:
        if self.observing:
            self.rt.observers.run_ended(facts.run_ended(self.run_record, status, self.now, self.position, error))

    def _commit_refused(self, error: CommitRefusedError, finish: Finish | None) -> NoReturn:
        """A commit the store refused (not fenced off) is never retried: the run fails without it."""
        if finish is not None and finish.status != RunStatus.COMPLETED and not self.pending:
            raise error  # even the failure cannot be written: the run stays ready, logged
        self.after_commit = []
        self.branch_writes = {}
        self._fail_without_append(error)

    def _fail_without_append(self, error: BaseException) -> NoReturn:
        self.pending = []
        self.consume = []
        self._finish_failed(error)

    def _continue_as_new(self, restart: Restart) -> Decision:
        """End this journal and start the workflow over with new arguments, in this same advance."""
        workflow = self.rt.registry.workflow(self.run_record.workflow)
        try:
            bind_call(workflow, restart.args, restart.kwargs)
        except (TypeError, SchemaError) as error:
            # continue_as_new(...) with arguments the workflow cannot take: the run fails, saying so.
            self._fail_without_append(error)
        self.pending = []
        self._flush(ops.NewGeneration(restart.args_text))
        if self.rt.observers:
            ended = facts.run_ended(self.run_record, CONTINUED, self.now, self.position, None)
            self.rt.observers.generation_ended(ended)
        if self.replayer is not None:
            self.replayer.close()
        self.position = 0
        self.open = None
        self.warned = False
        self.journal = None
        self.children, self.started, self.child_histories = {}, {}, {}
        self.run_record = attrs.evolve(
            self.run_record,
            args=restart.args_text,
            generation=self.run_record.generation + 1,
            journal_length=0,
        )
        self.replayer = Replayer(workflow(*restart.args, **restart.kwargs))
        return self.replayer.start()

    def _park(self, wait: Wait) -> None:
        """Park the run until what ``wait`` names; if something arrived meanwhile, re-read instead."""
        for message in wait.dispatch:
            self._dispatch(message)
        timer = wait.timer
        if wait.wake_at is not None:  # a parked branch's slot or token
            moved = gates.wake_precisely(self, wait.wake_at)
            if timer == wait.wake_at:
                timer = moved
        timer = gates.park_timer(self, timer)
        parked = self._flush(
            ops.SetOpen(self.open), Park(self.signals, wait.types, timer, wait.status)
        ).parked
        if parked:
            if timer is not None and self.rt.timer_set is not None:
                self.rt.timer_set(timer)
            if self.observing:
                self.rt.observers.run_parked(RunParked(self.run_id, self.run_record.workflow, wait.status))
            assert self.replayer is not None
            if wait.internal or (wait.timer is not None and wait.timer - self.now <= CACHE_HORIZON):
                self.rt.cache.put(self.run_id, Cached(self.replayer, self.epoch, self.position))
            else:
                self.replayer.close()
            raise _Done
        self._refresh(wait.types)
