"""The flowgen error tree: every error flowgen raises derives from :class:`FlowgenError`.

Messages say what happened, the values involved and the likely fix. This module imports
neither ``redis`` nor ``dramatiq`` (a test enforces it): workflows and the interpreter use it.
"""

from __future__ import annotations

from typing import Any


class FlowgenError(Exception):
    """Base class of every error raised by flowgen.

    Fix: catch it to handle every flowgen error at once; the subclass and its message say what went
    wrong.
    """


def _brief(error: BaseException, limit: int = 200) -> str:
    """The start of ``str(error)`` for a message that wraps it (the error itself is the cause)."""
    text = str(error)
    return text if len(text) <= limit else f"{text[:limit]}…"


class ConfigurationError(FlowgenError):
    """The engine, store or worker was configured in a way that cannot work.

    Fix: read the message: it names the setting and the value that cannot work (a URL scheme, a
    Redis configuration, a missing secret key); change that setting.
    """


class RegistrationError(FlowgenError):
    """Two different workflows (or steps) were registered under one name.

    Fix: give each workflow and step a unique ``name=``, or import the module that defines it only
    once (not both as a script and as a module).
    """


class WorkflowNotFoundError(FlowgenError):
    """A run names a workflow that is not registered in this process.

    Fix: import the module that defines the workflow in the worker (``flowgen worker
    myapp.workflows``) or pass ``-m MODULE`` to the CLI; check the name for typos.
    """


class StepNotFoundError(FlowgenError):
    """A message names a step that is not registered in this process.

    Fix: deploy the same step definitions to every worker that consumes the step's queue, and import
    their module in the worker.
    """


class InvalidDurationError(FlowgenError, ValueError):
    """A duration or a point in time could not be understood.

    Fix: pass seconds as a number, a ``datetime.timedelta``, or text such as ``"30s"``, ``"10
    minutes"``, ``"2h"``, ``"7 days"``; points in time must be timezone-aware datetimes.
    """


class InvalidNameError(RegistrationError, ValueError):
    """A workflow, step or queue name is empty, too long or uses characters flowgen does not accept.

    Fix: use 1 to 200 letters, digits and ``. _ - / < >`` (step names may also use ``:``); the
    message gives the rule for the kind of name.
    """


class InvalidRunIdError(FlowgenError, ValueError):
    """A run id is empty, too long or uses characters flowgen does not accept.

    Fix: use 1 to 200 letters, digits and ``. _ : @ / + = -``; derive ids from your own keys
    (``order-42``), not from free text.
    """


class WorkflowYieldError(FlowgenError, TypeError):
    """A workflow yielded something that is not a flowgen command.

    Fix: yield only flowgen commands (a step call, ``flowgen.sleep``, ``wait_for_event``,
    ``all_of``/``any_of``, ``child``, ...); call plain functions directly, and do side effects in
    steps.
    """


class NonDeterminismError(FlowgenError):
    """Replay reached a command that differs from the one recorded at that position.

    Attributes:
        position: the yield position where the workflow diverged.
        recorded: a description of the command recorded in the journal there.
        new: a description of the command the current code yielded (or ``None`` when the
            workflow finished before reaching that position).

    Fix: make the change compatible with runs in flight: keep the recorded commands in order, branch
    new behaviour behind a check the old runs cannot reach, or deploy the new code under a new
    workflow name; ``verify_replay`` finds this before a deploy.
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

    Fix: import the error's module in the process that reads the result so the original type is
    rebuilt, or catch ``StepFailedError`` and read its ``type`` and ``message``.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.message, self.traceback_text))


class NonRetryableError(FlowgenError):
    """Raise from a step to fail it at once, skipping any remaining retry attempts.

    Fix: raise it (or a subclass) from a step for failures that a retry cannot fix, such as a
    declined card or invalid input.
    """


class StepTimeoutError(FlowgenError):
    """A step attempt ran longer than its ``timeout`` and was interrupted.

    Fix: raise the step's ``timeout=``, make the step faster, or split it into smaller steps; the
    attempt is retried by the step's retry policy.
    """


class StepCrashedError(FlowgenError):
    """A step's worker died during the step more times than its crash limit allows.

    Fix: find why the worker died during this step (out of memory, ``os._exit``, a native crash) in
    the worker's logs; the step ran at most the crash limit's number of times.
    """


class EventTimeoutError(FlowgenError):
    """``wait_for_event`` reached its timeout before a matching event arrived.

    Fix: catch it in the workflow to take the timeout path, or raise the ``timeout=`` of
    ``wait_for_event``; events sent later stay buffered for a later wait.
    """


class CancelledError(FlowgenError):
    """The run was cancelled; raised into the workflow at its current ``yield``.

    Fix: catch it in the workflow to clean up (or ``yield flowgen.compensate()``) before the run
    ends cancelled; do not swallow it to keep going.
    """


class ChildWorkflowError(FlowgenError):
    """A child run failed; its error is the ``__cause__``.

    Fix: read its ``__cause__`` (the child's own error) and the child run's journal; catch it in the
    parent to recover.
    """


class CompensatedError(FlowgenError):
    """A run failed and the compensations of its completed steps ran (saga rollback).

    Attributes:
        compensations: one dict per compensation, in the order they ran: ``step`` (the
            compensation's name), ``undoes`` (the step it undid), ``for`` (that step's journal
            position), ``ok`` and ``error`` (the message of a compensation that failed).

    The error that made the run fail is the ``__cause__``.

    Fix: read which compensations ran and which failed; fix the original error (its ``__cause__``)
    and start a new run, since a compensated run cannot be retried.
    """

    def __init__(self, message: str, compensations: list[dict[str, Any]] | None = None) -> None:
        self.compensations = list(compensations or [])
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.compensations))


class JournalLimitError(FlowgenError):
    """A run's journal grew past the configured limit.

    Fix: use ``flowgen.continue_as_new`` for workflows that loop forever, or raise
    ``Engine(journal_limit=...)``.
    """


class RunNotFoundError(FlowgenError, LookupError):
    """No run exists with the given id.

    Fix: check the run id (``flowgen runs`` lists runs) and that the client uses the same store URL
    as the workers; finished runs are deleted after their retention.
    """


class RunFinishedError(FlowgenError):
    """The operation needs a live run but the run has already finished.

    Fix: read the run's status first; start a new run, or ``restart()`` the finished one.
    """


class RunStateError(FlowgenError):
    """The operation is not allowed in the run's current state.

    Fix: read the run's status: the message says which states allow the operation (for example only
    a failed run can be retried).
    """


class RunIdConflictError(FlowgenError):
    """A run with this id already exists with a different workflow or different arguments.

    Fix: use a new run id, or start with the same workflow and arguments to get the existing run
    back (starts are idempotent on the run id).
    """


class RunPlacementError(FlowgenError, ValueError):
    """The store cannot place this run as asked.

    On a Redis Cluster (see docs/scaling.md) a child run the parent waits for must live in its
    parent's shard, which its id decides: the part before the first ``/``. A child started with
    an explicit ``run_id`` that is not ``<parent's root id>/...`` is refused, and so is a run
    with concurrency or step limits (they need a single Redis).

    Fix: leave the child's id to flowgen (``<parent>/<position>``) or start it with
    ``run_id=f"{parent_root}/..."``; run limited workflows on a single Redis.
    """


class WorkflowFailedError(FlowgenError):
    """``run.result()`` of a run that failed; the workflow's error is the ``__cause__``.

    Fix: read its ``__cause__`` (the workflow's error) and the run's journal; ``retry()`` the run
    after deploying a fix.
    """


class WorkflowCancelledError(WorkflowFailedError):
    """``run.result()`` of a run that was cancelled.

    Fix: nothing to fix: the run was cancelled on purpose; read its journal for who cancelled it and
    when.
    """


class ResultTimeoutError(FlowgenError, TimeoutError):
    """``run.result(timeout=...)`` gave up before the run finished.

    Fix: wait longer, or check the run's status: a run that is queued needs a running worker
    (``flowgen worker``) to advance.
    """


class SerializationError(FlowgenError):
    """A value could not be encoded or decoded.

    Fix: pass JSON-friendly values (str, int, float, bool, None, lists, dicts with string keys) or
    register your classes with ``flowgen.register_type``; use the pickle serializer only between
    trusted processes.
    """


class PayloadTooLargeError(SerializationError):
    """An encoded value is larger than the configured limit.

    Fix: store large data elsewhere (a blob store, a database) and pass its key; or raise
    ``Engine(max_payload_bytes=...)``.
    """


class TamperedDataError(SerializationError):
    """A sealed value or error record is unsealed, altered, or sealed for another place.

    Fix: someone or something changed stored data, or the processes use different secret keys: give
    every process the same ``secret_key`` (``$FLOWGEN_SECRET_KEY`` for the CLI) and investigate who
    writes to the store.
    """


class InvalidEventError(FlowgenError, ValueError):
    """An event type or event id is empty, not a string or too long.

    Fix: use a non-empty string of at most 200 characters for the event type and the event id.
    """


class CommitRefusedError(FlowgenError):
    """The store refused a write for another reason than fencing; retrying it cannot succeed.

    Fix: read the message: the store refused the write (a value over its size limit, a journal over
    its limit); retrying the same write cannot help.
    """


class LeaseLostError(FlowgenError):
    """This worker no longer holds the run's lease; another worker advanced it.

    Fix: nothing to do in user code: another worker took the run over after this one stalled longer
    than the lease; raise ``--lease-ttl`` if workers stall often.
    """


class StoreUnavailableError(FlowgenError):
    """The store could not be reached.

    Fix: check that the store is running and reachable at the URL (``redis-cli -u URL ping``) and
    that its URL and credentials are right; nothing was written, so the operation can be repeated.
    """
