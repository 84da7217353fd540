"""What the dashboard and the API show of a run: its JSON form, its timeline, why it waits.

Everything here is plain data built from the engine's public reads (``RunInfo``, the readable
journal, generations, the inbox) plus the stored record for the lease holder. Pages render it
with Jinja2 (which escapes every value); the API returns it as JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from .. import slots
from ..client import RunInfo
from ..decoding import decode_call
from ..engine import Engine


def iso(moment: datetime | float | None) -> str | None:
    """An ISO 8601 UTC time for JSON (``None`` stays ``None``)."""
    if moment is None:
        return None
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, timezone.utc)
    return moment.isoformat()


def clock(moment: float) -> str:
    """A time for people: ``2026-12-01 14:18:34 UTC``."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_json(info: RunInfo) -> dict[str, Any]:
    """A run as the API returns it: :meth:`flowgen.RunInfo.to_json` (the CLI's ``--json`` form)."""
    return info.to_json()


def run_duration(info: RunInfo, now: float) -> float:
    """Seconds from creation to the end (or to ``now`` for a live run)."""
    end = info.finished.timestamp() if info.finished else now
    return max(0.0, end - info.created.timestamp())


def inputs(engine: Engine, run_id: str) -> dict[str, Any]:
    """The workflow call's arguments, decoded (``{"error": ...}`` when they cannot be here)."""
    record = engine.store.get_run_or_raise(run_id)
    try:
        args, kwargs = decode_call(engine.serializer, record.args, run_id=run_id, slot=slots.ARGS)
    except Exception as error:  # an undecodable value must not take the page down
        return {"error": f"cannot decode the arguments here: {error}"}
    return {"args": args, "kwargs": kwargs}


def as_json_text(value: Any) -> str:
    """A value as indented JSON for display (``repr`` for what JSON cannot hold)."""
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


# -- the timeline ---------------------------------------------------------------------------------


@attrs.frozen
class Segment:
    """A stretch of a timeline row: an attempt, a retry's wait, a sleep, a wait."""

    start: float
    end: float
    kind: str  # "ok", "error", "running", "backoff", "sleep", "wait", "crashed"
    label: str


@attrs.frozen
class Row:
    """One journal entry (or one member of an ``all_of``/``any_of``) on the timeline."""

    position: str
    kind: str
    name: str
    outcome: str  # "ok", "error", "open"
    start: float
    end: float
    segments: tuple[Segment, ...]
    detail: str
    error: Mapping[str, Any] | None = None
    child: str | None = None
    depth: int = 0


@attrs.frozen
class Timeline:
    """Rows on one time axis from ``start`` to ``end`` (Unix seconds)."""

    start: float
    end: float
    rows: tuple[Row, ...]

    def left(self, moment: float) -> float:
        """Where ``moment`` falls on the axis, in percent."""
        span = max(self.end - self.start, 1e-6)
        return max(0.0, min(100.0, (moment - self.start) / span * 100.0))

    def width(self, start: float, end: float) -> float:
        """The width of ``[start, end]`` on the axis, in percent (at least a visible sliver)."""
        return max(0.4, self.left(end) - self.left(start))


def _segments(item: Mapping[str, Any], start: float, end: float) -> list[Segment]:
    segments: list[Segment] = []
    attempts = item.get("attempts") or []
    previous_end: float | None = None
    for attempt in attempts:
        began = float(attempt.get("started") or start)
        if previous_end is not None and began > previous_end:
            segments.append(Segment(previous_end, began, "backoff", "waiting to retry"))
        finished = attempt.get("finished")
        status = str(attempt.get("status") or "running")
        stop = float(finished) if finished is not None else end
        message = (attempt.get("error") or {}).get("message", "")
        label = f"attempt {attempt.get('n', '?')}: {status}" + (f" ({message})" if message else "")
        segments.append(
            Segment(began, stop, status if status in ("ok", "error", "crashed") else "running", label)
        )
        previous_end = stop
    if not segments:
        kind = {"sleep": "sleep", "event": "wait", "child": "wait"}.get(str(item.get("kind")), "running")
        segments.append(Segment(start, end, kind, str(item.get("kind", ""))))
    return segments


def _detail(item: Mapping[str, Any]) -> str:
    info = item.get("info") or {}
    kind = item.get("kind")
    if kind == "sleep" and "due" in info:
        return f"due {clock(float(info['due']))}"
    if kind == "event":
        due = info.get("due")
        return f"event {item.get('name')!r}" + (f", times out {clock(float(due))}" if due else "")
    if kind == "step":
        attempts = item.get("attempts") or []
        return f"{len(attempts)} attempt{'s' if len(attempts) != 1 else ''}" if attempts else ""
    return ""


def _row(item: Mapping[str, Any], position: str, now: float, depth: int, parent_start: float) -> Row:
    start = float(item.get("started") or parent_start)
    finished = item.get("finished")
    end = float(finished) if finished is not None else now
    ok = item.get("ok")
    outcome = "open" if ok is None or finished is None else ("ok" if ok else "error")
    child = (item.get("info") or {}).get("child") or item.get("child")
    return Row(
        position=position,
        kind=str(item.get("kind", "")),
        name=str(item.get("name", "")),
        outcome=outcome,
        start=start,
        end=max(end, start),
        segments=tuple(_segments(item, start, max(end, start))),
        detail=_detail(item),
        error=item.get("error") if outcome == "error" else None,
        child=str(child) if child else None,
        depth=depth,
    )


def timeline(
    journal: Sequence[Mapping[str, Any]], open_entry: Mapping[str, Any] | None, now: float
) -> Timeline:
    """The timeline of a run's journal, with its open entry (the command in progress) last."""
    rows: list[Row] = []
    items = list(journal) + ([{**open_entry, "ok": None, "finished": None}] if open_entry else [])
    for item in items:
        position = str(item.get("pos", len(rows)))
        leaves = dict(item.get("leaves") or {})
        single = leaves.pop("", None)  # a plain command is a tree of one branch: one row
        if single is not None:
            item = {
                **single,
                **{k: v for k, v in item.items() if v is not None},
                "info": {**(single.get("info") or {}), **(item.get("info") or {})},
            }
        row = _row(item, position, now, 0, now)
        rows.append(row)
        for path, leaf in sorted(leaves.items()):
            rows.append(_row({"kind": leaf.get("kind", ""), **leaf}, f"{position}/{path}", now, 1, row.start))
    if not rows:
        return Timeline(now - 1.0, now, ())
    return Timeline(
        min(r.start for r in rows),
        max(max(r.end for r in rows), min(r.start for r in rows) + 1e-3),
        tuple(rows),
    )


# -- why a run is not moving ---------------------------------------------------------------------


def why_not_moving(engine: Engine, info: RunInfo, now: float | None = None) -> list[str]:
    """Plain sentences saying what a live run waits for, from its stored record."""
    if info.is_finished:
        return []
    now = time.time() if now is None else now
    record = engine.store.get_run_or_raise(info.run_id)
    reasons: list[str] = []
    status = str(info.status)
    if status == "paused":
        reasons.append("paused: it moves again when it is resumed")
    if info.pause_pending:
        reasons.append("a pause was requested: the run parks at its next yield")
    if info.cancellation == "requested":
        reasons.append("a cancellation was requested: it is raised into the workflow at its next yield")
    open_entry = json.loads(record.open) if record.open else None
    since = clock(float(open_entry["started"])) if open_entry and open_entry.get("started") else None
    due = _due(open_entry)
    for event_type in info.waiting_for:
        reasons.append(
            f"waiting for event {event_type!r}"
            + (f" since {since}" if since else "")
            + (f"; the wait times out at {clock(due)}" if due is not None else "")
        )
    if due is not None and not info.waiting_for:
        reasons.append(f"sleeping until {clock(due)}" if due > now else f"its timer was due at {clock(due)}")
    for queue in info.unconsumed_queues:
        reasons.append(f"its step is routed to queue {queue!r}, which no live worker consumes")
    if info.blocked_by is not None:
        blocked = info.blocked_by
        key = f" for key {blocked.key!r}" if blocked.key else ""
        if blocked.limit.startswith("rate:"):
            what = f"a step waits for a token of rate limit {blocked.limit}{key} ({blocked.max} per period)"
        elif blocked.limit.startswith("step:"):
            what = f"a step waits for a slot of step limit {blocked.limit}{key} (at most {blocked.max} at once)"
        else:
            what = f"queued behind concurrency limit {blocked.limit}{key} (at most {blocked.max} at once)"
        reasons.append(f"{what}: place {blocked.position} in line")
    if info.starts_at is not None and info.starts_at.timestamp() > now:
        reasons.append(f"a delayed start: it starts at {clock(info.starts_at.timestamp())}")
    if status == "queued" and info.blocked_by is None:
        reasons.append("queued: waiting for a worker to take it")
    if record.owner and record.lease_until > now:
        reasons.append(f"held by worker {record.owner} (its lease expires {clock(record.lease_until)})")
    elif record.owner and status == "running":
        reasons.append(
            f"its lease held by {record.owner} expired at {clock(record.lease_until)}: another worker takes it over"
        )
    return reasons


def _due(open_entry: Mapping[str, Any] | None) -> float | None:
    if not open_entry:
        return None
    dues = [(open_entry.get("info") or {}).get("due")]
    dues += [(leaf.get("info") or {}).get("due") for leaf in (open_entry.get("leaves") or {}).values()]
    values = [float(due) for due in dues if isinstance(due, (int, float))]
    return min(values) if values else None
