"""A run's timeline: its journal as readable items (``engine.timeline``, ``flowgen history``).

Each item is one yield position: the command's kind and name, its status (``completed``,
``failed`` or, for the entry the run is parked on, ``in progress``), when it started and
finished, and what is particular to its kind: a step's attempts (each with its times, duration
and error with traceback), a sleep's due time, an event wait's type, deadline and the id of the
event it received, a child run's id, and the branches of an ``all_of``/``any_of``. Archived
generations (``restart``, ``retry``) come first, each as a ``generation`` item with its own
entries. Times are epoch seconds here; the CLI shows them in local time, ``--json`` as
ISO 8601 UTC (:func:`iso`).

The field names are part of the documented JSON output (docs/operations.md); add fields, do not
rename them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from .journal import Entry, LeafState, OpenEntry
from .stores.base import RunRecord


def iso(timestamp: float | None) -> str | None:
    """An epoch time as ISO 8601 in UTC (``None`` stays ``None``)."""
    if timestamp is None or not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def _duration(started: float | None, finished: float | None) -> float | None:
    if not started or not finished:
        return None
    return round(max(0.0, finished - started), 6)


def error_view(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An error record as ``{"type", "message", "traceback"}`` (what every view of an error shows)."""
    if not record:
        return None
    return {
        "type": str(record.get("type", "")).replace(":", "."),
        "message": str(record.get("message", "")),
        "traceback": str(record.get("traceback") or ""),
    }


def _attempts(attempts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "number": attempt.get("n"),
            "status": attempt.get("status"),
            "started": iso(attempt.get("started")),
            "finished": iso(attempt.get("finished")),
            "duration": _duration(attempt.get("started"), attempt.get("finished")),
            "error": error_view(attempt.get("error")),
        }
        for attempt in attempts
    ]


def _details(
    kind: str, name: str, info: Mapping[str, Any], due: float | None, child: str | None
) -> dict[str, Any]:
    """What is particular to a kind: due times, awaited events, child runs."""
    details: dict[str, Any] = {}
    due = due if due is not None else info.get("due")
    if kind == "sleep" and due is not None:
        details["due"] = iso(due)
    if kind == "event":
        details["event_type"] = name
        if due is not None:
            details["deadline"] = iso(due)
        if info.get("event_id"):
            details["event_id"] = info["event_id"]
    if child or info.get("child"):
        details["child"] = child or info.get("child")
    return details


def _closed(entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "position": entry.position,
        "kind": entry.kind,
        "name": entry.name,
        "status": "completed" if entry.ok else "failed",
        "started": iso(entry.started),
        "finished": iso(entry.finished),
        "duration": _duration(entry.started, entry.finished),
        "error": None if entry.ok else error_view(entry.error),
        "attempts": _attempts(entry.attempts),
    }
    item.update(_details(entry.kind, entry.name, entry.info, None, None))
    if entry.leaves:
        item["branches"] = [
            {
                "path": path,
                "kind": leaf.get("kind", ""),
                "name": leaf.get("name", ""),
                "status": "completed" if leaf.get("ok") else "failed",
                "finished": iso(leaf.get("finished")),
                "error": None if leaf.get("ok") else error_view(leaf.get("error")),
                "attempts": _attempts(leaf.get("attempts", ())),
                **_details(
                    leaf.get("kind", ""),
                    leaf.get("name", ""),
                    leaf.get("info") or {},
                    None,
                    leaf.get("child"),
                ),
            }
            for path, leaf in sorted(entry.leaves.items())
        ]
    return item


def _leaf(path: str, leaf: LeafState) -> dict[str, Any]:
    outcome = leaf.outcome
    status = "in progress" if outcome is None else ("completed" if outcome.ok else "failed")
    return {
        "path": path,
        "kind": leaf.kind,
        "name": leaf.name,
        "status": status,
        "attempts": _attempts([attempt.to_dict() for attempt in leaf.attempts]),
        "next_attempt": iso(leaf.next_at),
        "error": None if outcome is None or outcome.ok else error_view(outcome.error),
        **_details(leaf.kind, leaf.name, leaf.info, leaf.due, leaf.child),
    }


def _open(entry: OpenEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "position": entry.position,
        "kind": entry.kind,
        "name": entry.name,
        "status": "in progress",
        "started": iso(entry.started),
        "finished": None,
        "duration": None,
        "error": None,
        "attempts": [],
    }
    leaves = entry.leaves
    if list(leaves) == [""]:
        # A plain command (one branch of path ""): its details are the entry's own.
        only = _leaf("", leaves[""])
        item["attempts"] = only["attempts"]
        item["next_attempt"] = only["next_attempt"]
        item.update({key: only[key] for key in ("due", "deadline", "event_type", "child") if key in only})
    elif leaves:
        item["branches"] = [_leaf(path, leaf) for path, leaf in sorted(leaves.items())]
    return item


def waiting_on(record: RunRecord) -> list[dict[str, Any]]:
    """What a run in flight is parked on (its open entry's unresolved branches), readable.

    ``[{"kind": "sleep", "name": ..., "due": ...}, {"kind": "event", "event_type": ...}, ...]``:
    fuller than ``RunInfo.waiting_for`` (event types only), e.g. a sleep's due time.
    """
    if not record.open or record.is_finished:
        return []
    entry = OpenEntry.from_json(record.open)
    found = []
    for path, leaf in sorted(entry.leaves.items()):
        if leaf.outcome is not None:
            continue
        item = _leaf(path, leaf)
        found.append(
            {key: value for key, value in item.items() if value not in (None, [], "") or key == "path"}
        )
    return found


def timeline(
    record: RunRecord, entries: Sequence[Entry], archived: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The whole timeline of a run (see the module docstring)."""
    generations = [
        {
            "generation": document.get("generation"),
            "ended_by": document.get("mode"),
            "status": document.get("status"),
            "finished": iso(document.get("finished")),
            "archived": iso(document.get("archived")),
            "error": error_view(document.get("error")),
            "entries": [_closed(Entry.from_dict(item)) for item in document.get("entries", ())],
        }
        for document in archived
    ]
    items = [_closed(entry) for entry in entries]
    if record.open and not record.is_finished:
        items.append(_open(OpenEntry.from_json(record.open)))
    return {
        "run_id": record.run_id,
        "workflow": record.workflow,
        "status": str(record.status),
        "generation": record.generation,
        "created": iso(record.created),
        "finished": iso(record.finished),
        "duration": _duration(record.created, record.finished),
        "error": error_view(record.error),
        "previous_generations": generations,
        "entries": items,
    }
