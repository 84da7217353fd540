"""Build the facts of :mod:`.observer` from what the runtime has at hand.

The runtime calls these at its few reporting points (``runtime/advance.py``,
``runtime/runtime.py``) so that it holds no observability logic of its own: each function takes
the runtime's values and returns a frozen fact.
"""

from __future__ import annotations

from typing import Any

from ..journal import Entry
from ..steps import AttemptResult
from ..stores.base import RunRecord
from .observer import (
    FAILED,
    SUCCEEDED,
    TIMED_OUT,
    AttemptEnded,
    RunEnded,
    RunStarted,
    WaitEnded,
    error_fields,
)

WAIT_KINDS = ("sleep", "event")
"""The journal kinds whose end is a :class:`~.observer.WaitEnded`."""


def is_first_advance(record: RunRecord, interrupted: bool) -> bool:
    """True for the advance that takes a run out of the queue for the first time.

    Nothing journaled, no open entry, first generation and no interrupted predecessor: a worker
    that died in the first step left an interrupted lease, so its successor is not counted again.
    """
    return record.journal_length == 0 and record.open is None and record.generation == 0 and not interrupted


def run_started(record: RunRecord, now: float) -> RunStarted:
    return RunStarted(record.run_id, record.workflow, record.created, now, record.trace)


def inline_attempt(
    record: RunRecord,
    step: str,
    position: str,
    attempt: int,
    opened: float,
    started: float,
    finished: float,
    result: AttemptResult,
) -> AttemptEnded:
    """The fact of an inline step attempt the advance loop ran."""
    if result.ok:
        outcome, error_type, message = SUCCEEDED, None, None
    else:
        outcome = TIMED_OUT if result.timed_out else FAILED
        error_type = f"{type(result.error).__module__}.{type(result.error).__qualname__}"
        message = str(result.error)
    return AttemptEnded(
        record.run_id,
        record.workflow,
        step,
        position,
        attempt,
        record.generation,
        opened,
        started,
        finished,
        outcome,
        error_type,
        message,
        record.trace,
    )


def branch_attempt(
    run_id: str, key: str, attempt: int, record: dict[str, Any], outcome: dict[str, Any], trace: str | None
) -> AttemptEnded:
    """The fact of a step branch attempt (``record`` is its branch record, ``outcome`` its report)."""
    if outcome.get("ok"):
        label, error_type, message = SUCCEEDED, None, None
    else:
        label = TIMED_OUT if outcome.get("timeout") else FAILED
        error_type, message = error_fields(outcome.get("error"))
    started = float(outcome.get("started", 0.0))
    return AttemptEnded(
        run_id,
        str(record.get("workflow", "")),
        str(record.get("step", "")),
        key,
        attempt,
        int(record.get("gen", 0)),
        float(record.get("opened", started)),
        started,
        float(outcome.get("finished", started)),
        label,
        error_type,
        message,
        trace,
    )


def wait_ended(record: RunRecord, entry: Entry, now: float) -> WaitEnded | None:
    """The fact of a sleep or event wait that ``entry`` closes (``None`` for other commands)."""
    if entry.kind not in WAIT_KINDS:
        return None
    info: dict[str, Any] = entry.info
    if not info and len(entry.leaves) == 1:
        info = next(iter(entry.leaves.values())).get("info", {}) or {}
    due = info.get("due")
    return WaitEnded(
        record.run_id,
        record.workflow,
        entry.kind,
        entry.name,
        entry.position,
        record.generation,
        entry.started,
        float(due) if due is not None else None,
        now,
        entry.ok,
        record.trace,
    )


def run_ended(
    record: RunRecord, status: str, finished: float, journal_length: int, error: dict[str, Any] | None
) -> RunEnded:
    error_type, message = error_fields(error)
    return RunEnded(
        record.run_id,
        record.workflow,
        status,
        record.created,
        finished,
        record.generation,
        journal_length,
        error_type,
        message,
        record.trace,
    )


METHODS: dict[type, str] = {
    RunStarted: "run_started",
    AttemptEnded: "attempt_ended",
    WaitEnded: "wait_ended",
    RunEnded: "run_ended",
}
"""The :class:`~.observer.Observer` method each fact is reported with."""
