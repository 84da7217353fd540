"""What callers hold: the :class:`Run` handle and the :class:`RunInfo` snapshot of a run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, cast

import attrs
from typing_extensions import TypeVar

from .error_records import rebuild_error
from .errors import WorkflowCancelledError, WorkflowFailedError
from .status import RunStatus
from .stores.base import CANCEL_DELIVERED, RunRecord

if TYPE_CHECKING:
    from .engine import Engine

R = TypeVar("R", default=Any)


def when(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc)


@attrs.frozen
class ErrorInfo:
    """A recorded error: its type, message and the traceback from where it was raised."""

    type: str
    message: str
    traceback: str = ""
    record: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    def exception(self) -> BaseException:
        """Rebuild the exception (or a ``StepFailedError`` when its type is not importable here)."""
        return rebuild_error(self.record)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ErrorInfo:
        """Read a stored error record (its ``type`` is ``module:Class``; shown ``module.Class``)."""
        return cls(
            type=str(record.get("type", "")).replace(":", "."),
            message=str(record.get("message", "")),
            traceback=str(record.get("traceback") or ""),
            record=record,
        )


@attrs.frozen
class RunInfo:
    """A snapshot of a run.

    Attributes:
        status: a :class:`~flowgen.RunStatus` (a ``str``: ``queued``, ``running``, ``waiting``,
            ``paused``, ``compensating``, ``completed``, ``failed`` or ``cancelled``).
        output: the workflow's return value once completed.
        error: the error a failed run ended with.
        waiting_for: the event types a waiting run is parked on.
        pause_pending: a pause was requested and the run has not parked yet.
        cancellation: what became of a ``cancel()`` (see :func:`cancellation_of`): ``None``
            (never asked), ``"requested"`` (accepted, not yet raised into the workflow),
            ``"delivered"`` (raised into the workflow; the run is or will be ``cancelled``),
            ``"forced"`` (``cancel(force=True)`` ended it) or ``"ignored"`` (the run completed
            or failed before it reached a ``yield`` the cancellation could be raised at).
        blocked_by: for a ``queued`` run held back by a concurrency limit, or a ``waiting`` run
            whose step attempt is parked for a step limit or a rate limit: which limit and key,
            and its place in line (:class:`BlockedBy`).
        starts_at / deadline: a delayed run's start time; the run's deadline (``timeout=``).
        version: the code version the run (its current generation) started under:
            ``Engine(version=...)`` / ``flowgen worker --version``, or the version of the package
            holding the workflow; ``None`` when unset (see docs/versioning.md).
        unconsumed_queues: queues that step branches the run waits for are routed to
            (``@step(queue=...)``) and that no live worker consumes: the run cannot move on
            until a worker consumes them (``flowgen worker MODULE --queues NAME``). Known when
            the process asking has those steps declared (it imported their module).
        tags: the tags the run was started with (``engine.start(..., tags={...})``).
        waiting_on: what a run in flight is parked on, one dict per unresolved branch of its
            open entry: ``kind``, ``name`` and, as they apply, ``due`` (a sleep), ``event_type``
            and ``deadline`` (an event wait), ``child`` (a child run), ``attempts`` (a step).
        schedule / tick: the schedule that started the run and the tick it is for (an aware
            datetime with the schedule's UTC offset), ``None`` for a run no schedule started.
    """

    run_id: str
    workflow: str
    status: RunStatus
    created: datetime
    updated: datetime
    finished: datetime | None = None
    output: Any = None
    error: ErrorInfo | None = None
    parent: str | None = None
    waiting_for: tuple[str, ...] = ()
    pause_pending: bool = False
    unconsumed_queues: tuple[str, ...] = ()
    journal_length: int = 0
    generation: int = 0
    cancellation: str | None = None
    blocked_by: BlockedBy | None = None
    starts_at: datetime | None = None
    deadline: datetime | None = None
    tags: dict[str, str] = attrs.field(factory=dict, hash=False)
    waiting_on: tuple[dict[str, Any], ...] = attrs.field(default=(), hash=False)
    version: str | None = None
    schedule: str | None = None
    tick: datetime | None = None

    @property
    def is_finished(self) -> bool:
        """The run has ended (completed, failed or cancelled)."""
        return self.finished is not None

    def to_json(self) -> dict[str, Any]:
        """This snapshot as JSON-ready data with stable field names (``flowgen status --json``,
        ``GET /api/v1/runs/{id}``; the fields are listed in docs/operations.md)."""
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": str(self.status),
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
            "finished": None if self.finished is None else self.finished.isoformat(),
            "duration": None
            if self.finished is None
            else round((self.finished - self.created).total_seconds(), 6),
            "tags": dict(self.tags),
            "parent": self.parent,
            "generation": self.generation,
            "journal_length": self.journal_length,
            "output": self.output,
            "error": None
            if self.error is None
            else {"type": self.error.type, "message": self.error.message, "traceback": self.error.traceback},
            "waiting_for": list(self.waiting_for),
            "waiting_on": [dict(item) for item in self.waiting_on],
            "pause_pending": self.pause_pending,
            "cancellation": self.cancellation,
            "version": self.version,
            "schedule": self.schedule,
            "tick": None if self.tick is None else self.tick.isoformat(),
            "unconsumed_queues": list(self.unconsumed_queues),
            **self._flow_json(),
        }

    def _flow_json(self) -> dict[str, Any]:
        """What flow control says of the run (docs/flow-control.md): only the parts that apply."""
        fields: dict[str, Any] = {}
        if self.blocked_by is not None:
            fields["blocked_by"] = attrs.asdict(self.blocked_by)
        for name in ("starts_at", "deadline"):
            moment = getattr(self, name)
            if moment is not None:
                fields[name] = moment.isoformat()
        return fields


@attrs.frozen
class BlockedBy:
    """What a run waits for: the run limit a queued run waits for, or the step limit or rate
    limit a step of a waiting run (inline or a branch) is parked for.

    Attributes:
        limit: the limit's name (``run:<workflow>``, ``step:<step>`` or ``rate:<step>``, and
            ``|<key>`` for a keyed one).
        key: the key (``None`` for a limit without a key).
        max: how many runs the limit lets be in progress at once.
        position: the run's place in line for it (1: next).
    """

    limit: str
    key: str | None
    max: int
    position: int

    @classmethod
    def from_status(cls, blocked: dict[str, Any]) -> BlockedBy:
        """Build from the ``blocked_by`` of :meth:`flowgen.stores.base.Store.flow_status`."""
        gate = str(blocked["gate"])
        _, _, key = gate.partition("|")
        return cls(gate, key or None, int(blocked["limit"]), int(blocked["position"]))


class Run(Generic[R]):
    """A handle on one run of an engine; cheap to create, holds no state but the id.

    ``Run[R]`` is the handle of a run of a ``Workflow[..., R]``: :meth:`result` returns an ``R``.
    """

    def __init__(self, engine: Engine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"<flowgen.Run {self.run_id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.engine is self.engine and other.run_id == self.run_id

    def __hash__(self) -> int:
        return hash(self.run_id)

    def _record(self) -> RunRecord:
        """The run's stored record (raises ``RunNotFoundError``); for subclasses in flowgen."""
        return self.engine._record(self.run_id)

    def status(self) -> RunInfo:
        """Return a snapshot of the run; see :meth:`flowgen.Engine.status`."""
        return self.engine.status(self.run_id)

    def watch(self, timeout: float | None = None, interval: float = 1.0) -> Iterator[RunInfo]:
        """Iterate over the run's :class:`~flowgen.RunInfo`: now, then after each state change, until it finishes.

        A state change is a new status, new events waited for, a pause requested or a
        cancellation's progress (see docs/observability.md, "Watching runs"). Changes arrive by
        notification (Redis pub/sub, or this process's own threads), and by a poll every
        ``interval`` seconds at the latest.

        Raises:
            ResultTimeoutError: ``timeout`` seconds passed before the run finished.
        """
        iterator: Iterator[RunInfo] = self.engine.watch_run(self.run_id, timeout=timeout, interval=interval)
        return iterator

    def result(self, timeout: float | None = None) -> R:
        """Wait for the run to finish and return its output.

        Blocks on a notification from the store, not a polling loop.

        Raises:
            WorkflowFailedError: the run failed; the workflow's error is the ``__cause__``.
            WorkflowCancelledError: the run was cancelled.
            ResultTimeoutError: (a ``TimeoutError``) ``timeout`` seconds passed first.
        """
        return cast(R, self.engine.result(self.run_id, timeout))

    def send_event(self, type: str, payload: Any = None, event_id: str | None = None) -> bool:
        """Send an event to this run; see :meth:`Engine.send_event`."""
        return self.engine.send_event(self.run_id, type, payload, event_id=event_id)

    def journal(self) -> list[dict[str, Any]]:
        """Return the run's journal as readable dictionaries, one per position."""
        return self.engine.journal(self.run_id)

    def pause(self) -> RunInfo:
        """Pause the run after its current step; see :meth:`Engine.pause`."""
        return self.engine.pause(self.run_id)

    def resume(self) -> RunInfo:
        """Resume a paused run; see :meth:`Engine.resume`."""
        return self.engine.resume(self.run_id)

    def cancel(self, force: bool = False) -> RunInfo:
        """Cancel the run (and its children); see :meth:`Engine.cancel`."""
        return self.engine.cancel(self.run_id, force=force)

    def restart(self) -> Run:
        """Run the workflow again from the beginning; see :meth:`Engine.restart`."""
        return self.engine.restart(self.run_id)

    def retry(self) -> Run:
        """Resume a failed run from the failed step; see :meth:`Engine.retry`."""
        return self.engine.retry(self.run_id)

    def history(self) -> list[dict[str, Any]]:
        """Return the archived generations of the run; see :meth:`flowgen.Engine.history`."""
        return self.engine.history(self.run_id)

    def timeline(self) -> dict[str, Any]:
        """Return the run's readable timeline; see :meth:`flowgen.Engine.timeline`."""
        return self.engine.timeline(self.run_id)

    def events(self) -> list[dict[str, Any]]:
        """Return the run's buffered events; see :meth:`flowgen.Engine.events`."""
        return self.engine.events(self.run_id)

    def wait_for_status(self, *statuses: str, timeout: float = 30.0) -> RunInfo:
        """Wait until the run is in one of ``statuses`` (polls; meant for scripts and tests)."""
        return self.engine.wait_for_status(self.run_id, statuses, timeout)


def cancellation_of(record: RunRecord) -> str | None:
    """What became of a cancellation of this run (the values of ``RunInfo.cancellation``).

    Derived from the run's status and its stored cancellation flag (``"requested"`` when
    ``cancel()`` was accepted, ``"delivered"`` once ``CancelledError`` was raised into the
    workflow): a cancelled run without a delivered cancellation was ended by ``force=True``;
    a run that finished otherwise with one still requested ignored it.
    """
    flag = record.cancel_requested
    if record.status == RunStatus.CANCELLED:
        return "delivered" if flag == CANCEL_DELIVERED else "forced"
    if not flag:
        return None
    if record.is_finished:
        return "ignored"
    return "delivered" if flag == CANCEL_DELIVERED else "requested"


def output_or_raise(record: RunRecord, output: Any, cause: BaseException | None) -> Any:
    """Return ``output`` for a completed run, raise the matching error (caused by ``cause``) otherwise."""
    if record.status == RunStatus.COMPLETED:
        return output
    error_class = WorkflowCancelledError if record.status == RunStatus.CANCELLED else WorkflowFailedError
    message = f"run {record.run_id!r} of workflow {record.workflow!r} {record.status}"
    if cause is not None:
        message += f": {type(cause).__name__}: {cause}"
    error = error_class(message)
    error.__cause__ = cause
    raise error
