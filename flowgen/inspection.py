"""The read-only half of the engine's API: snapshots, results, journals, exports, history.

:class:`RunInspection` is a base class of :class:`flowgen.Engine`; it only reads the store and
decodes what it finds, so everything here is safe to call from any process, with or without
workers. The methods that change runs (start, events, control) are in :mod:`flowgen.engine`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import EllipsisType
from typing import Any, TypeVar

from . import operations, slots
from .client import BlockedBy, ErrorInfo, RunInfo, cancellation_of, output_or_raise, when
from .decoding import combinator_value, decode_leaves, decode_plain, run_error
from .decorators import Registry, Workflow
from .errors import FlowgenError, ResultTimeoutError
from .journal import Entry
from .names import check_workflow_name
from .operations import Operation
from .runtime.branch_steps import queues_waited_on
from .schedules.firing import parse_run_id
from .serialization import Serializer
from .stores.base import RunRecord, Store
from .timeline import waiting_on
from .transports.base import Transport
from .validation import check_timeout
from .versions import recorded_version

T = TypeVar("T")

EXPORT_FORMAT = "flowgen-journal/1"


def workflow_name(workflow: Workflow | str) -> str:
    """Return the name of a ``@flowgen.workflow`` or check a workflow name given as text."""
    if isinstance(workflow, Workflow):
        return workflow.name
    if isinstance(workflow, str):
        return check_workflow_name(workflow)
    raise TypeError(f"expected a @flowgen.workflow or a workflow name, got {workflow!r}")


class RunInspection:
    """Reading runs: the part of :class:`flowgen.Engine` that never writes to the store."""

    store: Store
    serializer: Serializer
    transport: Transport
    registry: Registry

    def _drive(self, operation: Operation[T]) -> T:
        """Run a client operation (:mod:`flowgen.operations`) with this engine's store and transport."""
        return operations.drive(operation, self.store, self.transport.enqueue, self.transport)

    def _record(self, run_id: str) -> RunRecord:
        """Return the stored record of ``run_id`` or raise :class:`RunNotFoundError`."""
        return self.store.get_run_or_raise(run_id)

    def status(self, run_id: str) -> RunInfo:
        """Return a snapshot of a run (what :meth:`Run.status` returns).

        Raises:
            RunNotFoundError: no such run.
        """
        return self._drive(operations.status(self, run_id))

    def result(self, run_id: str, timeout: float | None = None) -> Any:
        """Wait for a run to finish and return its output (what :meth:`Run.result` does).

        Args:
            timeout: seconds to wait (``None``: as long as it takes).

        Raises:
            WorkflowFailedError: the run failed.
            WorkflowCancelledError: the run was cancelled.
            ResultTimeoutError: ``timeout`` seconds passed first.
            ValueError: ``timeout`` is negative, not finite or longer than 100 years.
        """
        record = self.wait_finished(run_id, check_timeout(timeout))
        if record is None:
            current = self.store.get_run(run_id)
            status = current.status if current else "missing"
            raise ResultTimeoutError(
                f"run {run_id!r} did not finish within {timeout}s (it is {status}); "
                "call result() again with a longer timeout, or check that workers are running"
            )
        return self.output_of(record)

    def wait_finished(self, run_id: str, timeout: float | None) -> RunRecord | None:
        """Block until the run finishes (``None`` after ``timeout`` seconds)."""
        return self.store.wait_finished(run_id, timeout)

    def _output(self, record: RunRecord) -> Any:
        if record.output is None:
            return None
        return self.serializer.decode(
            record.output, run_id=record.run_id, slot=slots.output(record.generation)
        )

    def _version(self, record: RunRecord) -> str | None:
        if not record.args.startswith("!pickle"):
            return recorded_version(record.args)
        try:
            call = self.serializer.decode(record.args, run_id=record.run_id, slot=slots.ARGS)
        except FlowgenError:
            return None
        version = call.get("version") if isinstance(call, dict) else None
        return version if isinstance(version, str) else None

    def output_of(self, record: RunRecord) -> Any:
        """Return a finished run's output or raise its error (see :meth:`Run.result`)."""
        return output_or_raise(record, self._output(record), run_error(self.serializer, record))

    def run_info(
        self,
        record: RunRecord,
        tags: dict[str, str] | None = None,
        flow: dict[str, Any] | EllipsisType | None = ...,
        unconsumed: Sequence[str] | EllipsisType = ...,
    ) -> RunInfo:
        """Build the :class:`RunInfo` of a stored record.

        ``tags``, ``flow`` (the store's ``flow_status``) and ``unconsumed`` (the transport's
        ``unconsumed`` queues among those the run waits on) are read if not given.
        """
        if isinstance(unconsumed, EllipsisType):
            unconsumed = self.transport.unconsumed(queues_waited_on(record, self.registry))
        created = when(record.created)
        updated = when(record.updated)
        assert created is not None and updated is not None
        scheduled = parse_run_id(record.run_id)
        return RunInfo(
            run_id=record.run_id,
            workflow=record.workflow,
            status=record.status,
            created=created,
            updated=updated,
            finished=when(record.finished),
            output=self._output(record),
            error=ErrorInfo.from_record(record.error) if record.error else None,
            parent=record.parent,
            waiting_for=record.waiting,
            pause_pending=record.pause_requested
            and record.status not in ("paused",)
            and not record.is_finished,
            journal_length=record.journal_length,
            generation=record.generation,
            cancellation=cancellation_of(record),
            version=self._version(record),
            unconsumed_queues=tuple(unconsumed),
            **self._flow_info(record, flow),
            tags=self.store.tags_of([record.run_id])[record.run_id] if tags is None else tags,
            waiting_on=tuple(waiting_on(record)),
            schedule=None if scheduled is None else scheduled.schedule,
            tick=None if scheduled is None else scheduled.tick,
        )

    def _flow_info(
        self, record: RunRecord, flow: dict[str, Any] | EllipsisType | None = ...
    ) -> dict[str, Any]:
        """``blocked_by``, ``starts_at`` and ``deadline`` of a run that has not finished."""
        if record.is_finished:
            return {}
        if isinstance(flow, EllipsisType):
            flow = self.store.flow_status(record.run_id)
        if flow is None:
            return {}
        blocked = flow.get("blocked_by")
        return {
            "blocked_by": BlockedBy.from_status(blocked) if blocked else None,
            "starts_at": when(flow["start_at"]) if "start_at" in flow else None,
            "deadline": when(flow["deadline"]) if "deadline" in flow else None,
        }

    def journal(self, run_id: str) -> list[dict[str, Any]]:
        """Return a run's journal as readable dictionaries, one per position, values decoded.

        ``value`` is what the workflow received at that position: for ``all_of`` the list of
        member values, for ``any_of`` ``(index, value)``. The members of an ``all_of``/``any_of``
        (``leaves``) have their own values decoded too. A value that cannot be decoded here
        (say, a type this process cannot import) reads ``"<undecodable: ...>"``.
        """
        return self._drive(operations.journal(self, run_id))

    def _readable(self, run_id: str, generation: int, entry: Entry) -> dict[str, Any]:
        item = entry.to_dict()
        try:
            if entry.leaves:
                results = decode_leaves(self.serializer, run_id, generation, entry)
                item["leaves"] = {
                    path: {**record, "value": results[path].value} if record.get("ok") else dict(record)
                    for path, record in entry.leaves.items()
                }
                if entry.ok:
                    item["value"] = combinator_value(entry.kind, results, entry.winners)
            elif entry.ok and entry.value is not None:
                item["value"] = decode_plain(self.serializer, run_id, generation, entry).value
        except Exception as error:
            item["value"] = f"<undecodable: {error}>"
        return item

    def export(self, run_id: str) -> dict[str, Any]:
        """Return a run's journal as a JSON-compatible document (``flowgen export`` writes it).

        ``flowgen.testing.verify_replay(workflow, exported)`` replays current code against it.
        ``open`` is the entry a run in flight is parked on (``None`` otherwise): replay must
        reach that same command for the run to resume.
        """
        return self._drive(operations.export(self, run_id))

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """Return the archived generations of a run (restarts and retries), oldest first."""
        return self._drive(operations.history(self, run_id))

    def wait_for_status(self, run_id: str, statuses: Sequence[str], timeout: float | None) -> RunInfo:
        """Poll until the run is in one of ``statuses``; for scripts and tests."""
        limit = check_timeout(timeout)
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            record = self._record(run_id)
            if record.status in statuses:
                return self.run_info(record)
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeoutError(
                    f"run {run_id!r} is {record.status}, not {'/'.join(statuses)}, after {timeout}s"
                )
            time.sleep(0.01)
