"""How commands print: tables and timelines for people, JSON for programs.

Human output shows times in the local time zone (with its name) and how long ago or ahead they
are, durations as ``1.2s``/``3m 04s``, and colours statuses when stdout is a terminal and
``NO_COLOR`` is not set (https://no-color.org). ``--json`` prints documented, stable field
names (docs/operations.md): times as ISO 8601 in UTC, durations in seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..durations import format_duration as duration
from ..serialization import dumps_json

COLORS = {
    "completed": "32",
    "failed": "31",
    "cancelled": "35",
    "waiting": "33",
    "paused": "33",
    "running": "36",
    "compensating": "31",
    "queued": "34",
    "in progress": "36",
}


def use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, status: str) -> str:
    code = COLORS.get(status)
    return f"\033[{code}m{text}\033[0m" if code and use_color() else text


def print_value(value: Any) -> None:
    """Print text as it is and anything else as compact JSON (``flowgen schedules``)."""
    print(value if isinstance(value, str) else dumps_json(value))


def emit(value: Any) -> None:
    """Print one JSON document (``--json``)."""
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def value_text(value: Any) -> str:
    """A run output or event payload for people: compact JSON (text as is)."""
    return value if isinstance(value, str) else dumps_json(value)


def _epoch(value: datetime | str | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return float(value)


def local_time(value: datetime | str | float | None, *, relative: bool = True) -> str:
    """A time in the local zone, ``2026-12-01 14:03:21 CET (3m ago)``; ``-`` for none."""
    epoch = _epoch(value)
    if epoch is None:
        return "-"
    local = datetime.fromtimestamp(epoch).astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S %Z")
    if not relative:
        return text
    delta = time.time() - epoch
    return f"{text} ({duration(delta)} ago)" if delta >= 0 else f"{text} (in {duration(-delta)})"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], colored: int | None = None) -> None:
    """Print aligned columns; column ``colored`` is painted by its value (a status)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        cells = [
            paint(cell.ljust(w), cell) if index == colored else cell.ljust(w)
            for index, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def info_json(info: Any) -> dict[str, Any]:
    """A :class:`~flowgen.RunInfo` as the documented JSON object of ``status``, ``runs`` and others."""
    return dict(info.to_json())


def describe_wait(item: Mapping[str, Any]) -> str:
    """One thing a run waits for, for people: ``sleep until 14:05:00 CET (in 3m 00s)``."""
    kind, name = item.get("kind", ""), item.get("name", "")
    if kind == "sleep":
        return f"sleep until {local_time(item.get('due'))}"
    if kind == "event":
        text = f"event {item.get('event_type', name)!r}"
        return text + (f", deadline {local_time(item['deadline'])}" if item.get("deadline") else "")
    if kind == "child":
        return f"child run {item.get('child') or name}"
    if kind == "step":
        attempts = item.get("attempts") or []
        text = f"step {name!r}"
        if attempts:
            text += f" attempt {attempts[-1].get('number')} ({attempts[-1].get('status')})"
        if item.get("next_attempt"):
            text += f", next attempt {local_time(item['next_attempt'])}"
        return text
    return f"{kind} {name!r}"


def error_line(error: Mapping[str, Any] | None) -> str:
    if not error:
        return "-"
    return f"{error.get('type')}: {error.get('message')}"


def tags_text(tags: Mapping[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(tags.items())) or "-"


def show_info(info: Any) -> None:
    """``flowgen status``: a run as ``label  value`` lines."""
    data = info_json(info)
    status = paint(data["status"], data["status"])
    if data["pause_pending"]:
        status += " (pause requested)"
    if data["cancellation"]:
        status += f" (cancellation {data['cancellation']})"
    lines = [
        ("run", data["run_id"]),
        ("workflow", data["workflow"]),
        ("status", status),
        ("created", local_time(data["created"])),
        ("updated", local_time(data["updated"])),
        ("finished", local_time(data["finished"])),
        ("duration", duration(data["duration"])),
        ("tags", tags_text(data["tags"])),
        ("parent", data["parent"] or "-"),
        ("journal", f"{data['journal_length']} entries, generation {data['generation']}"),
        ("version", data["version"] or "-"),
    ]
    if data["schedule"]:
        lines.append(("schedule", f"{data['schedule']} (tick {local_time(data['tick'], relative=False)})"))
    for item in data["waiting_on"]:
        lines.append(("waiting on", describe_wait(item)))
    if data["unconsumed_queues"]:
        lines.append(("no worker on", ", ".join(data["unconsumed_queues"])))
    if "blocked_by" in data:
        blocked = data["blocked_by"]
        key = f" key {blocked['key']!r}" if blocked.get("key") else ""
        lines.append(
            (
                "blocked by",
                f"{blocked['limit']}{key}: place {blocked['position']} in line (max {blocked['max']})",
            )
        )
    for name, label in (("starts_at", "starts at"), ("deadline", "deadline")):
        if name in data:
            lines.append((label, local_time(data[name])))
    if data["status"] == "completed":
        lines.append(("output", value_text(data["output"])))
    if data["error"]:
        lines.append(("error", error_line(data["error"])))
    for label, value in lines:
        print(f"{label:<12} {value}")
    if data["error"] and data["error"].get("traceback"):
        print()
        print(data["error"]["traceback"].rstrip())
