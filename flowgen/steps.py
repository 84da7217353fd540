"""Run one step attempt, and decide what a failed attempt means under the step's retry policy.

Used for steps run inline by the advance actor and for step branches run as their own messages, so
both behave the same: the step context is set, the timeout is enforced, errors are captured with
their traceback, and retries follow :class:`~flowgen.decorators.Retry`.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from .context import StepContext, enter_step, leave_step
from .decorators import Step
from .error_records import ATTEMPTS_KEY, error_record
from .errors import NonRetryableError, StepCrashedError, StepTimeoutError
from .journal import ATTEMPT_CRASHED, ATTEMPT_ERROR, ATTEMPT_TIMEOUT, LeafState
from .run_logs import log_failed_attempt
from .timeouts import StepInterrupted, watchdog

StepInvoker = Callable[[Step, Sequence[Any], Mapping[str, Any]], Any]
"""How a step body is called: ``invoker(step, args, kwargs)``. Tests substitute mocks here."""


def call_step_function(step: Step, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """The production invoker: call the step's own function."""
    return step.fn(*args, **kwargs)


@attrs.frozen
class AttemptResult:
    """How one attempt ended: a value, or an error with the traceback text from the step's thread."""

    ok: bool
    value: Any = None
    error: BaseException | None = None
    traceback: str = ""

    @property
    def timed_out(self) -> bool:
        return isinstance(self.error, StepTimeoutError)


def run_attempt(
    step: Step,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    context: StepContext,
    invoker: StepInvoker = call_step_function,
) -> AttemptResult:
    """Run the step body once under its context and timeout; never raises an ``Exception``.

    An ``async def`` step is awaited on the process's step loop while this thread waits (the
    inline case: compensations, the testing Runner); workers run async steps without holding
    a thread (:mod:`flowgen.aio.runner`).
    """
    if step.is_async:
        from .aio.attempts import run_async_attempt, run_to_completion

        return run_to_completion(run_async_attempt(step, args, kwargs, context, invoker))
    token = enter_step(context)
    try:
        if step.timeout is None:
            return AttemptResult(True, step.check_result(invoker(step, args, kwargs)))
        with watchdog.guard(step.timeout) as guard:
            value = invoker(step, args, kwargs)
        if guard.fired:
            raise StepInterrupted()
        return AttemptResult(True, step.check_result(value))
    except StepInterrupted:
        error = StepTimeoutError(
            f"step {step.name!r} attempt {context.attempt} ran longer than its timeout of {step.timeout:g}s "
            "and was interrupted"
        )
        return AttemptResult(False, error=error, traceback=traceback.format_exc())
    except Exception as error:
        return AttemptResult(False, error=error, traceback=traceback.format_exc())
    finally:
        leave_step(token)


def is_retryable(step: Step, error: BaseException) -> bool:
    """Whether the policy may retry after ``error`` (``NonRetryableError`` and ``no_retry_on`` may not)."""
    if isinstance(error, NonRetryableError):
        return False
    return not (step.no_retry_on and isinstance(error, step.no_retry_on))


@attrs.frozen
class FailureDecision:
    """After a failed attempt: retry after ``delay`` seconds, or fail with ``error`` (a record)."""

    retry: bool
    delay: float = 0.0
    error: dict[str, Any] | None = None


def decide_after_failure(
    step: Step, state: LeafState, record: dict[str, Any], retryable: bool, rng: random.Random | None = None
) -> FailureDecision:
    """Decide whether to retry, counting the failed attempts already in ``state``.

    ``record`` is the error record of the attempt that just failed (already in ``state``).
    When no retry is allowed the step fails with that error itself, whatever the policy (so a
    workflow's ``except TheStepsError:`` matches with or without retries), stamped with how
    many attempts ran (see :func:`with_attempts`).
    """
    failures = state.count(ATTEMPT_ERROR, ATTEMPT_TIMEOUT)
    policy = step.retries
    if retryable and failures <= policy.limit:
        delay = policy.delay_before(failures, rng)
        log_failed_attempt(step.name, len(state.attempts), record, delay, policy.limit - failures)
        return FailureDecision(True, delay)
    log_failed_attempt(step.name, len(state.attempts), record, None, 0)
    return FailureDecision(False, error=with_attempts(record, state))


def with_attempts(record: dict[str, Any], state: LeafState) -> dict[str, Any]:
    """A copy of the error ``record`` that fails the step, with the number of attempts that ran.

    The count is what the journal entry's ``error`` shows under ``attempts`` and what the
    rebuilt error carries as ``error.flowgen_attempts`` (every recorded attempt, crashed ones
    included).
    """
    return {**record, ATTEMPTS_KEY: len(state.attempts)}


def crash_error(step: Step, state: LeafState) -> dict[str, Any] | None:
    """Return a ``StepCrashedError`` record if the step's worker died too often, else ``None``."""
    crashes = state.count(ATTEMPT_CRASHED)
    if crashes < step.crash_limit:
        return None
    error = StepCrashedError(
        f"step {step.name!r} was interrupted {crashes} times by its worker dying (crash_limit={step.crash_limit}); "
        "it is failed instead of being retried forever. Check the workers' logs for what killed them "
        "(out of memory, a segfault in a C extension, a deploy that kills workers mid-step)"
    )
    return with_attempts(error_record(error, ""), state)
