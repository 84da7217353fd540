"""Finding runs: tags, the query of a listing, cursors, and the checks of all three.

A **tag** is a ``key=value`` pair of text given at start (``engine.start(wf, tags={"customer":
"42"})``). Tags are set once, by the start that creates the run, and every store indexes them,
so ``engine.runs(tags={"customer": "42"})`` reads the runs that carry the tag, never every run.

A :class:`RunQuery` is what a listing, a count and a bulk action select runs by: statuses,
workflow, tags (all must match), parent run, and ranges of creation and finish times. Pages are
newest first (by creation time, then run id, both descending) and continue with a **cursor**:
an opaque text that names the last run of the previous page, so a page is found by an index
seek however deep it is (an offset costs as many reads as it skips).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from .durations import LATEST_TIMESTAMP, parse_timestamp
from .names import check_run_id
from .status import FINISHED, RunStatus

MAX_TAGS = 20
"""The most tags one run may carry."""

TAG_KEY_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
"""What a tag key may hold; no ``=`` or ``:`` (they delimit tag index keys in Redis)."""

MAX_TAG_VALUE = 200
"""The longest tag value (in characters)."""


def check_tags(tags: object) -> dict[str, str]:
    """Return ``tags`` as a plain ``dict[str, str]``, or raise ``ValueError`` naming the bad item.

    Keys are 1 to 64 letters, digits and ``. _ -``; values 1 to 200 printable characters.
    """
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ValueError(
            f"tags must be a mapping of text to text, such as {{'customer': '42'}}, got {tags!r:.80}"
        )
    if len(tags) > MAX_TAGS:
        raise ValueError(f"a run may carry at most {MAX_TAGS} tags, got {len(tags)}")
    checked: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not TAG_KEY_PATTERN.fullmatch(key):
            raise ValueError(f"invalid tag key {key!r:.80}: use 1 to 64 letters, digits and . _ -")
        if not isinstance(value, str) or not value or len(value) > MAX_TAG_VALUE or not value.isprintable():
            raise ValueError(
                f"invalid value {value!r:.80} of tag {key!r}: tag values are text of 1 to "
                f"{MAX_TAG_VALUE} printable characters (convert numbers with str())"
            )
        checked[key] = value
    return checked


def parse_tag(text: str) -> tuple[str, str]:
    """Parse ``key=value`` (the CLI's ``--tag``); ``ValueError`` naming the text if it is not one."""
    key, equals, value = text.partition("=")
    if not equals:
        raise ValueError(f"a tag is written key=value, such as customer=42, got {text!r}")
    checked = check_tags({key: value})
    return key, checked[key]


@attrs.frozen
class Cursor:
    """Where a page ends: the creation time and run id of its last run."""

    created: float
    run_id: str

    def encode(self) -> str:
        data = json.dumps([self.created, self.run_id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Read a cursor a page returned; ``ValueError`` if ``text`` is not one."""
        try:
            padded = text + "=" * (-len(text) % 4)
            created, run_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if (
                isinstance(created, bool)
                or not isinstance(created, (int, float))
                or not math.isfinite(created)
            ):
                raise ValueError(created)
            return cls(float(created), check_run_id(run_id))
        except Exception:
            raise ValueError(
                f"invalid cursor {text!r:.80}: pass the next_cursor a previous page returned"
            ) from None


def _time(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{what}: invalid time {value!r}; use ISO 8601 such as 2026-12-01T09:30 (local time) "
                "or 2026-12-01T09:30+00:00"
            ) from None
        value = parsed if parsed.tzinfo is not None else parsed.astimezone()
    try:
        seconds = parse_timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what}: {error}") from None
    if not 0 <= seconds <= LATEST_TIMESTAMP:
        raise ValueError(f"{what} must be a time between 1970 and 9999, got {value!r}")
    return seconds


def check_statuses(status: str | Iterable[str] | None) -> tuple[RunStatus, ...]:
    """Statuses given as one name, several, or ``None`` (any); ``ValueError`` lists the valid ones."""
    if status is None:
        return ()
    names = [status] if isinstance(status, str) else list(status)
    return tuple(dict.fromkeys(RunStatus.parse(name) for name in names))


@attrs.frozen
class RunQuery:
    """Which runs a listing, count or bulk action selects (every given filter must hold).

    Attributes:
        statuses: any of these statuses (empty: any status).
        workflow: runs of this workflow.
        tags: runs carrying every one of these tags.
        parent: child runs of this run.
        created_after / created_before: creation time in ``[after, before)`` (epoch seconds).
        finished_after / finished_before: finish time in ``[after, before)``; implies a
            finished status.
        limit: the most runs of one page (``None``: all).
        offset: runs of the selection to skip first (use ``cursor`` for deep pages).
        cursor: continue after the run this cursor names.
    """

    statuses: tuple[RunStatus, ...] = ()
    workflow: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    parent: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    finished_after: float | None = None
    finished_before: float | None = None
    limit: int | None = 100
    offset: int = 0
    cursor: Cursor | None = None

    @property
    def finished_range(self) -> bool:
        return self.finished_after is not None or self.finished_before is not None

    def effective_statuses(self) -> tuple[RunStatus, ...]:
        """The statuses a run may have to match: a finish-time range keeps finished ones only."""
        if not self.finished_range:
            return self.statuses
        if not self.statuses:
            return tuple(status for status in RunStatus if status in FINISHED)
        return tuple(status for status in self.statuses if status in FINISHED)

    def created_ceiling(self) -> float | None:
        """The latest creation time a match may have (inclusive): from the cursor or the range."""
        ceilings = [value for value in (self.created_before, self.finished_before) if value is not None]
        if self.cursor is not None:
            ceilings.append(self.cursor.created)
        return min(ceilings) if ceilings else None

    def after_cursor(self, created: float, run_id: str) -> bool:
        """Whether a run sorts after the cursor (newest first), so it belongs to this page or later."""
        if self.cursor is None:
            return True
        return (created, run_id) < (self.cursor.created, self.cursor.run_id)

    def matches(self, record: Any, tags: Mapping[str, str] | None = None) -> bool:
        """Whether a :class:`~flowgen.stores.base.RunRecord` (with its ``tags``) is selected.

        Stores use it for the filters their index did not apply; the cursor is checked too.
        """
        statuses = self.effective_statuses()
        if (self.statuses or self.finished_range) and record.status not in statuses:
            return False
        if self.workflow is not None and record.workflow != self.workflow:
            return False
        if self.parent is not None and record.parent != self.parent:
            return False
        if self.created_after is not None and record.created < self.created_after:
            return False
        if self.created_before is not None and record.created >= self.created_before:
            return False
        if self.finished_range:
            finished = record.finished
            if finished is None:
                return False
            if self.finished_after is not None and finished < self.finished_after:
                return False
            if self.finished_before is not None and finished >= self.finished_before:
                return False
        if self.tags:
            have = tags or {}
            if any(have.get(key) != value for key, value in self.tags):
                return False
        return self.after_cursor(record.created, record.run_id)

    def empty(self) -> bool:
        """Whether no run can match (a finish range over unfinished statuses only)."""
        return bool(self.finished_range and self.statuses and not self.effective_statuses())


def build_query(
    *,
    status: str | Iterable[str] | None = None,
    workflow: str | None = None,
    tags: Mapping[str, str] | None = None,
    parent: str | None = None,
    created_after: datetime | float | str | None = None,
    created_before: datetime | float | str | None = None,
    finished_after: datetime | float | str | None = None,
    finished_before: datetime | float | str | None = None,
    limit: int | None = 100,
    offset: int = 0,
    cursor: str | None = None,
) -> RunQuery:
    """Check every filter and return the :class:`RunQuery` (``ValueError`` naming a bad one).

    Times are a timezone-aware ``datetime``, epoch seconds, or ISO 8601 text (without an offset:
    local time).
    """
    from .validation import check_page

    limit, offset = check_page(limit, offset)
    if cursor is not None and offset:
        raise ValueError("pass either a cursor or an offset, not both (a cursor already says where to go on)")
    query = RunQuery(
        statuses=check_statuses(status),
        workflow=None if workflow is None else _workflow(workflow),
        tags=tuple(sorted(check_tags(tags).items())),
        parent=None if parent is None else check_run_id(parent),
        created_after=_time(created_after, "created_after"),
        created_before=_time(created_before, "created_before"),
        finished_after=_time(finished_after, "finished_after"),
        finished_before=_time(finished_before, "finished_before"),
        limit=limit,
        offset=offset,
        cursor=None if cursor is None else Cursor.decode(cursor),
    )
    return query


def _workflow(workflow: Any) -> str:
    from .inspection import workflow_name

    return workflow_name(workflow)


class RunPage(list[Any]):
    """A page of runs (a ``list`` of :class:`~flowgen.RunInfo`) and where the next one starts.

    Attributes:
        next_cursor: pass it as ``cursor=`` to get the next page; ``None`` on the last page.
    """

    next_cursor: str | None

    def __init__(self, runs: Sequence[Any] = (), next_cursor: str | None = None) -> None:
        super().__init__(runs)
        self.next_cursor = next_cursor
