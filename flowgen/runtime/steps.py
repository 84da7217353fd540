"""Inline steps and their retries: the evaluator of a step that runs in the advancing thread.

A step that is not a branch of ``all_of``/``any_of`` and has no ``queue=`` runs **inline**: the
evaluator asks the loop to run an attempt (:class:`~.actions.RunAttempt`); the loop runs it and
evaluates again with the attempt's result in :attr:`~.view.RunView.ran`, and the evaluator
records it in the step's open entry and decides: the step's outcome, another attempt now, or a
back-off (a :class:`~.actions.Wait` on the retry timer). The same code runs the compensations of
a saga (:mod:`.sagas`), one branch of the compensation entry at a time.

Crash accounting. The first attempt an advance runs records its start only with its result (one
write per step boundary instead of two); every later one is recorded as started by the commit
that closes the previous step. So a crash is seen either as an attempt recorded as started and
never finished, or, for that first attempt, from the lease itself: the next holder is told the
run was interrupted (``Snapshot.interrupted``) and charges the crash to the first step it runs.
After a crash is charged, every attempt of the advance records its start first.
"""

from __future__ import annotations

from .. import slots
from ..commands import StepCall
from ..context import StepContext
from ..decorators import Step
from ..error_records import error_summary
from ..interpreter import Outcome
from ..journal import (
    ATTEMPT_CRASHED,
    ATTEMPT_ERROR,
    ATTEMPT_OK,
    ATTEMPT_TIMEOUT,
    Attempt,
    LeafOutcome,
    LeafState,
)
from ..steps import crash_error, decide_after_failure, is_retryable
from ..tagged import SCALARS
from .actions import HELD, Action, Held, RunAttempt, Wait
from .entries import close, seal, slot
from .view import FinishedAttempt, RunView


def evaluate(view: RunView, position: int, call: StepCall, step: Step) -> Action:
    """Evaluate the inline step ``call`` (of ``step``) at ``position``: run its next attempt, wait
    for a retry, or close it."""
    entry = view.open_entry(position, call)
    state = entry.leaves[""]
    result = attempt_branch(view, position, "", call, step, state)
    if isinstance(result, LeafOutcome):
        if not result.ok:  # a value was sealed for its slot when encoded (see entries.seal)
            seal(view, position, "", call, state, result)
        return close(view, entry, state, result, finished=result.finished, decoded=_fresh_scalar(view, state))
    return result


def _fresh_scalar(view: RunView, state: LeafState) -> Outcome | None:
    """The outcome the workflow gets, without decoding it again, when the attempt that just ran
    returned a plain scalar: decoding what was just encoded gives that same value back (the
    roundtrip only changes containers, tuples become lists), and the seal is this advance's own."""
    ran = view.ran
    if ran is None or ran.action.state is not state or not ran.result.ok:
        return None
    value = ran.result.value
    return Outcome(True, value, None) if type(value) in SCALARS else None


def attempt_branch(
    view: RunView, position: int, path: str, call: StepCall, step: Step, state: LeafState
) -> LeafOutcome | Wait | RunAttempt | Held:
    """Decide what happens next to the inline step ``call`` whose branch state is ``state``.

    Returns its outcome (success, or failure once retries are exhausted or the crash limit is
    reached), the attempt to run now, a wait for its retry back-off, or :data:`~.actions.HELD`
    when the loop reports that the attempt it was asked to run did not start.
    """
    last = state.attempts[-1] if state.attempts else None
    ran = view.ran
    if ran is not None and last is not None and ran.action.attempt is last:
        outcome = _record(view, step, state, ran, slot(view, position, path))
        if outcome is not None:
            return outcome
    held = view.held
    if held is not None and last is not None and held.attempt is last:
        # A pause or cancellation arrived: this attempt does not start.
        state.attempts.pop()
        state.next_at = held.backoff
        return HELD
    progress = view.progress
    running = state.running_attempt()
    if running is not None or (progress.interrupted and not progress.ran_a_step):
        # A worker died during this step: the attempt it recorded as started, or, if it had
        # recorded nothing yet (see the module docstring), the first step this advance runs.
        now = view.now
        if running is None:
            running = Attempt(number=len(state.attempts) + 1, started=now)
            state.attempts.append(running)
        running.status = ATTEMPT_CRASHED
        running.finished = now
        progress.interrupted = False
        progress.recovering = True
        crashed = crash_error(step, state)
        if crashed is not None:
            return LeafOutcome(False, error=crashed, finished=now)
    now = view.now
    if state.next_at is not None and state.next_at > now:
        return Wait(timer=state.next_at)
    attempt = Attempt(number=len(state.attempts) + 1, started=now, epoch=view.epoch)
    state.attempts.append(attempt)
    backoff, state.next_at = state.next_at, None
    record = view.run_record
    key = slots.key(position, path)
    context = StepContext(view.run_id, record.workflow, step.name, key, attempt.number, record.generation)
    return RunAttempt(
        step,
        call.args,
        call.kwargs,
        context,
        state,
        attempt,
        backoff,
        records_start=progress.ran_a_step or progress.recovering,
    )


def _record(
    view: RunView, step: Step, state: LeafState, ran: FinishedAttempt, slot: str
) -> LeafOutcome | None:
    """Record how the attempt the loop ran ended; return the step's outcome, or ``None`` to retry.

    The result is encoded, and the error recorded, for ``slot`` (the step's journal slot).

    Raises:
        SerializationError: the step's result cannot be encoded (the run fails, nothing appended).
    """
    attempt = ran.action.attempt
    result = ran.result
    attempt.finished = ran.finished
    view.progress.ran_a_step = True
    if result.ok:
        text = view.serializer.encode(
            result.value,
            run_id=view.run_id,
            slot=slot,
            what=f"the result of step {step.name!r}",
        )
        attempt.status = ATTEMPT_OK
        return LeafOutcome(True, value=text, finished=ran.finished)
    assert result.error is not None
    record = view.serializer.error_record(result.error, result.traceback, run_id=view.run_id, slot=slot)
    attempt.status = ATTEMPT_TIMEOUT if result.timed_out else ATTEMPT_ERROR
    attempt.error = error_summary(record)
    decision = decide_after_failure(step, state, record, is_retryable(step, result.error), view.rng)
    if not decision.retry:
        return LeafOutcome(False, error=decision.error, finished=ran.finished)
    state.next_at = ran.finished + decision.delay
    return None
