"""Build the facts of :mod:`.observer` from what the runtime has at hand.

The runtime calls these at its few reporting points (``runtime/advance.py``,
``runtime/runtime.py``) so that it holds no observability logic of its own: each function takes
the runtime's values and returns a frozen fact.
"""

from __future__ import annotations

from typing import Any

from ..commands import AllOf, AnyOf, ChildRun, Command, branches_of
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
"""The journal kinds whose end is a :class:`~.observer.WaitEnded` (and ``child``, when waited for)."""

COMBINATOR_KINDS = (AllOf.kind, AnyOf.kind)


def is_first_advance(record: RunRecord) -> bool:
    """True for an advance that may be the one that takes a run out of the queue.

    Nothing journaled, no open entry, first generation. It is the one only if it commits: the
    fact is reported after this advance's first commit (an advance that commits nothing - the
    run was paused, the worker was stopping, the store failed - leaves it to the next one; one
    that crashed before committing leaves the next holder, which commits the crashed attempt,
    to report it).
    """
    return record.journal_length == 0 and record.open is None and record.generation == 0


def run_started(record: RunRecord, now: float, flow: dict[str, Any] | None) -> RunStarted:
    """The fact of a run's first advance; ``flow`` (its flow control document) says when it was due."""
    start_at = flow.get("start_at") if flow else None
    scheduled = max(record.created, float(start_at)) if start_at is not None else record.created
    return RunStarted(record.run_id, record.workflow, record.created, now, record.trace, scheduled)


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


def waits_ended(record: RunRecord, entry: Entry, command: Command | None, now: float) -> list[WaitEnded]:
    """The facts of the waits ``entry`` closes: a sleep, an event wait or a waited-for child run,
    or those among the branches of an ``all_of``/``any_of`` that its closed entry journals.

    ``command`` (what was yielded) tells a waited-for child from ``start_child``; without it no
    child is reported. Branch waits end when the journal says they did (their recorded
    ``finished``), and are named by the branch path, so each has a span id of its own.
    """
    if entry.kind in COMBINATOR_KINDS:
        members = dict(branches_of(command)) if isinstance(command, (AllOf, AnyOf)) else {}
        found = []
        for path, leaf in sorted(entry.leaves.items()):
            kind = str(leaf.get("kind", ""))
            if kind in WAIT_KINDS or _waited_child(members.get(path)):
                ended = float(leaf.get("finished", now) or now)
                name = str(leaf.get("name", ""))
                found.append(_wait(record, entry, kind, name, leaf.get("info") or {}, ended, leaf, path))
        return found
    if entry.kind in WAIT_KINDS or (entry.kind == ChildRun.kind and _waited_child(command)):
        info = entry.info
        if not info and len(entry.leaves) == 1:
            info = next(iter(entry.leaves.values())).get("info", {}) or {}
        outcome = {"ok": entry.ok, "error": entry.error}
        return [_wait(record, entry, entry.kind, entry.name, info, now, outcome, "")]
    return []


def _waited_child(command: object) -> bool:
    return isinstance(command, ChildRun) and bool(command.wait)


def _wait(
    record: RunRecord,
    entry: Entry,
    kind: str,
    name: str,
    info: dict[str, Any],
    ended: float,
    outcome: dict[str, Any],
    branch: str,
) -> WaitEnded:
    due = info.get("due")
    ok = bool(outcome.get("ok"))
    error_type, message = (None, None) if ok else error_fields(outcome.get("error"))
    return WaitEnded(
        record.run_id,
        record.workflow,
        kind,
        name,
        entry.position,
        record.generation,
        entry.started,
        float(due) if due is not None else None,
        ended,
        ok,
        record.trace,
        branch,
        error_type,
        message,
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
