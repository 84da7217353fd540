"""The records a store hands the engine (runs, events, snapshots, counts, control and send results).

Plain frozen values with no behaviour of the store's own: the store contract
(:mod:`.base`) returns them, and the engine, runtime, CLI and dashboard read them. Kept apart
from the contract so that its methods read as one list.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from ..journal import Entry, OpenEntry
from ..status import FINISHED, STORED, RunStatus


@attrs.frozen
class NewRun:
    """A run to create.

    Attributes:
        args: the encoded ``{"args": [...], "kwargs": {...}}`` of the workflow call.
        fingerprint: a digest of workflow and arguments; starting an existing run id with a
            different fingerprint is a conflict.
        parent: ``"<run id>"`` of the parent run for a child run, else ``None``.
        trace: the W3C ``traceparent`` of the code that started the run (tracing on), else ``None``.
        flow: the run's flow control as JSON (limits, delayed start, deadline; see
            :mod:`flowgen.stores.flow_logic`), else ``None``.
    """

    run_id: str
    workflow: str
    args: str
    fingerprint: str
    created: float
    parent: str | None = None
    trace: str | None = None
    flow: str | None = None

    def queued_record(self, now: float) -> RunRecord:
        """The record of this run as created at ``now``: queued, nothing journaled yet."""
        return RunRecord(
            run_id=self.run_id,
            workflow=self.workflow,
            status=RunStatus.QUEUED,
            created=now,
            updated=now,
            args=self.args,
            fingerprint=self.fingerprint,
            parent=self.parent,
            trace=self.trace,
        )


@attrs.define
class RunRecord:
    """A run's metadata as stored."""

    run_id: str
    workflow: str
    status: RunStatus
    created: float
    updated: float
    args: str
    fingerprint: str
    output: str | None = None
    error: dict[str, Any] | None = None
    parent: str | None = None
    generation: int = 0
    epoch: int = 0
    owner: str = ""
    lease_until: float = 0.0
    signals: int = 0
    waiting: tuple[str, ...] = ()
    journal_length: int = 0
    pause_requested: bool = False
    cancel_requested: str = ""
    finished: float | None = None
    open: str | None = None
    trace: str | None = None

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def to_fields(self) -> dict[str, str]:
        """Flatten to strings (a Redis hash, a SQLite row's JSON)."""
        fields = {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": self.status,
            "created": repr(self.created),
            "updated": repr(self.updated),
            "args": self.args,
            "fingerprint": self.fingerprint,
            "generation": str(self.generation),
            "epoch": str(self.epoch),
            "owner": self.owner,
            "lease_until": repr(self.lease_until),
            "signals": str(self.signals),
            "waiting": json.dumps(list(self.waiting)),
            "jlen": str(self.journal_length),
            "pause": "1" if self.pause_requested else "",
            "cancel": self.cancel_requested,
        }
        if self.output is not None:
            fields["output"] = self.output
        if self.error is not None:
            fields["error"] = json.dumps(self.error)
        if self.parent is not None:
            fields["parent"] = self.parent
        if self.finished is not None:
            fields["finished"] = repr(self.finished)
        if self.open is not None:
            fields["open"] = self.open
        if self.trace is not None:
            fields["trace"] = self.trace
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> RunRecord:
        """Build from string fields (bytes are accepted and decoded)."""
        return cls.from_text_fields(
            {
                (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                for k, v in fields.items()
            }
        )

    @classmethod
    def from_text_fields(cls, f: Mapping[str, str]) -> RunRecord:
        """Build from fields already decoded to text (what the Redis store reads, every advance)."""
        error = f.get("error")
        finished = f.get("finished")
        waiting = f.get("waiting")
        return cls(
            run_id=f["run_id"],
            workflow=f["workflow"],
            status=STORED[f["status"]],
            created=float(f["created"]),
            updated=float(f["updated"]),
            args=f["args"],
            fingerprint=f.get("fingerprint", ""),
            output=f.get("output"),
            error=json.loads(error) if error else None,
            parent=f.get("parent") or None,
            generation=int(f.get("generation") or 0),
            epoch=int(f.get("epoch") or 0),
            owner=f.get("owner", ""),
            lease_until=float(f.get("lease_until") or 0),
            signals=int(f.get("signals") or 0),
            waiting=tuple(json.loads(waiting)) if waiting and waiting != "[]" else (),  # usually empty
            journal_length=int(f.get("jlen") or 0),
            pause_requested=bool(f.get("pause")),
            cancel_requested=f.get("cancel", ""),
            finished=float(finished) if finished else None,
            open=f.get("open") or None,
            trace=f.get("trace") or None,
        )


@attrs.frozen
class InboxEvent:
    """An event waiting in a run's inbox."""

    id: str
    payload: str
    sent: float

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "payload": self.payload, "sent": self.sent}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> InboxEvent:
        data = json.loads(text)
        return cls(data["id"], data["payload"], data["sent"])


@attrs.define
class Snapshot:
    """What an advance starts from: the run, its journal tail, open entry, branches and inbox heads.

    Attributes:
        epoch: the lease epoch this snapshot was taken under (0 for a read-only load).
        journal: closed entries from the offset asked for.
        branches: branch records by ``"<position>/<path>"``.
        inbox: the first events of each event type asked for, as many as the type was asked
            for (types with no event are absent).
        interrupted: the previous lease holder stopped without parking, finishing or releasing
            the run (its lease expired): it died or froze while advancing it.
        flow: the run's flow control document (:mod:`flowgen.stores.flow_logic`), if any.
    """

    run: RunRecord
    epoch: int
    journal: list[Entry]
    open: OpenEntry | None
    branches: dict[str, dict[str, Any]]
    inbox: dict[str, list[InboxEvent]]
    interrupted: bool = False
    flow: dict[str, Any] | None = None


@attrs.frozen
class StateCounts:
    """What :meth:`Store.state_counts` reads: the state gauges of the metrics.

    Attributes:
        runs: runs by status (every status, zero included; finished runs until retention ends).
        timers: runs with a timer (sleeping, waiting for an event with a timeout, backing off).
        timers_due: timers whose time has passed and that no poller has claimed yet.
    """

    runs: dict[str, int]
    timers: int
    timers_due: int


CANCEL_REQUESTED = "requested"
CANCEL_DELIVERED = "delivered"

CONTROL_ACTIONS = ("pause", "resume", "cancel", "terminate")


@attrs.frozen
class ControlResult:
    """What a control request did.

    Attributes:
        before / after: the run's status before and after the request.
        wake: the run must be enqueued (it was made ready).
        parent: a parent run to enqueue (``terminate`` finished a child its parent waits on).
        woken: runs to enqueue because ``terminate`` gave back the slots of their limits.
    """

    before: RunStatus
    after: RunStatus
    wake: bool = False
    parent: str | None = None
    woken: tuple[str, ...] = ()


@attrs.frozen
class SendResult:
    """What ``send_event`` did: ``delivered`` is false for a duplicate event id."""

    delivered: bool
    wake: bool


LOST_QUEUE = -math.inf
"""The ``backlog`` to pass :meth:`Store.reconcile` when every message this process had queued is
gone (an embedded engine starting: its queue lived in a process that may have died). Every ready
run without a live lease is then enqueued, whatever its ready score; a run another live process
still has queued gets a second message, which is a no-op (every write is fenced)."""


def ready_cutoff(now: float, backlog: float) -> float:
    """The latest ready score the reconciler looks at (see :meth:`Store.reconcile`)."""
    if backlog == LOST_QUEUE:
        return math.inf
    return now - max(0.0, backlog)
