"""The flowgen error tree: every error flowgen raises derives from :class:`FlowgenError`.

Messages say what happened, the values involved and the likely fix. This module imports
neither ``redis`` nor ``dramatiq`` (a test enforces it): workflows and the interpreter use it.
"""

from __future__ import annotations

from typing import Any


class FlowgenError(Exception):
    """Base class of every error raised by flowgen."""


def _brief(error: BaseException, limit: int = 200) -> str:
    """The start of ``str(error)`` for a message that wraps it (the error itself is the cause)."""
    text = str(error)
    return text if len(text) <= limit else f"{text[:limit]}…"


class ConfigurationError(FlowgenError):
    """The engine, store or worker was configured in a way that cannot work."""


class RegistrationError(FlowgenError):
    """Two different workflows (or steps) were registered under one name."""


class WorkflowNotFoundError(FlowgenError):
    """A run names a workflow that is not registered in this process."""


class StepNotFoundError(FlowgenError):
    """A message names a step that is not registered in this process."""


class InvalidDurationError(FlowgenError, ValueError):
    """A duration or a point in time could not be understood."""


class InvalidNameError(RegistrationError, ValueError):
    """A workflow, step or queue name is empty, too long or uses characters flowgen does not accept."""


class InvalidRunIdError(FlowgenError, ValueError):
    """A run id is empty, too long or uses characters flowgen does not accept."""


class WorkflowYieldError(FlowgenError, TypeError):
    """A workflow yielded something that is not a flowgen command."""


class NonDeterminismError(FlowgenError):
    """Replay reached a command that differs from the one recorded at that position.

    Attributes:
        position: the yield position where the workflow diverged.
        recorded: a description of the command recorded in the journal there.
        new: a description of the command the current code yielded (or ``None`` when the
            workflow finished before reaching that position).
    """

    def __init__(self, position: int, recorded: str, new: str | None, detail: str = "") -> None:
        self.position = position
        self.recorded = recorded
        self.new = new
        got = new if new is not None else "the workflow finishing"
        message = (
            f"non-deterministic workflow at position {position}: the journal recorded {recorded} "
            f"but the current code yielded {got}"
        )
        if detail:
            message += f" ({detail})"
        message += (
            ". Workflow code must yield the same commands in the same order on every replay; "
            "put a change under in-flight runs behind `if (yield flowgen.patched('change-id')):` "
            "(docs/versioning.md), or deploy it under a new workflow name."
        )
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.position, self.recorded, self.new))


class StepFailedError(FlowgenError):
    """A step failed with an exception that could not be rebuilt in this process.

    Attributes:
        type_name: the dotted name of the original exception type.
        message: ``str()`` of the original exception.
        traceback_text: the formatted traceback captured where the step ran.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.message, self.traceback_text))


class NonRetryableError(FlowgenError):
    """Raise from a step to fail it at once, skipping any remaining retry attempts."""


class StepTimeoutError(FlowgenError):
    """A step attempt ran longer than its ``timeout`` and was interrupted."""


class StepCrashedError(FlowgenError):
    """A step's worker died during the step more times than its crash limit allows."""


class EventTimeoutError(FlowgenError):
    """``wait_for_event`` reached its timeout before a matching event arrived."""


class CancelledError(FlowgenError):
    """The run was cancelled; raised into the workflow at its current ``yield``."""


class ChildWorkflowError(FlowgenError):
    """A child run failed; its error is the ``__cause__``."""


class CompensatedError(FlowgenError):
    """A run failed and the compensations of its completed steps ran (saga rollback).

    Attributes:
        compensations: one dict per compensation, in the order they ran: ``step`` (the
            compensation's name), ``undoes`` (the step it undid), ``for`` (that step's journal
            position), ``ok`` and ``error`` (the message of a compensation that failed).

    The error that made the run fail is the ``__cause__``.
    """

    def __init__(self, message: str, compensations: list[dict[str, Any]] | None = None) -> None:
        self.compensations = list(compensations or [])
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.compensations))


class JournalLimitError(FlowgenError):
    """A run's journal grew past the configured limit."""


class RunNotFoundError(FlowgenError, LookupError):
    """No run exists with the given id."""


class RunFinishedError(FlowgenError):
    """The operation needs a live run but the run has already finished."""


class RunStateError(FlowgenError):
    """The operation is not allowed in the run's current state."""


class RunIdConflictError(FlowgenError):
    """A run with this id already exists with a different workflow or different arguments."""


class WorkflowFailedError(FlowgenError):
    """``run.result()`` of a run that failed; the workflow's error is the ``__cause__``."""


class WorkflowCancelledError(WorkflowFailedError):
    """``run.result()`` of a run that was cancelled."""


class ResultTimeoutError(FlowgenError, TimeoutError):
    """``run.result(timeout=...)`` gave up before the run finished."""


class SerializationError(FlowgenError):
    """A value could not be encoded or decoded."""


class PayloadTooLargeError(SerializationError):
    """An encoded value is larger than the configured limit."""


class TamperedDataError(SerializationError):
    """A sealed value or error record is unsealed, altered, or sealed for another place."""


class InvalidEventError(FlowgenError, ValueError):
    """An event type or event id is empty, not a string or too long."""


class CommitRefusedError(FlowgenError):
    """The store refused a write for another reason than fencing; retrying it cannot succeed."""


class LeaseLostError(FlowgenError):
    """This worker no longer holds the run's lease; another worker advanced it."""


class StoreUnavailableError(FlowgenError):
    """The store could not be reached."""
