"""Finding runs for the runs page and ``GET /api/v1/runs``: filters, pages, counts.

The filters come from a query string (the page's form and the API take the same parameters), are
checked here with errors that name the parameter, and go to the engine's listing, which answers
from the store's indexes. ``q`` looks a run up by its exact id (the fast path an operator uses
when a log line names a run).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import attrs

from ..client import RunInfo
from ..engine import Engine
from ..errors import RunNotFoundError
from ..status import RunStatus

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class FilterError(ValueError):
    """A query parameter of a listing is not valid (the message names it and what it takes)."""


@attrs.frozen
class Filters:
    """What the user asked to see."""

    status: RunStatus | None = None
    workflow: str | None = None
    q: str | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """Parse ``status``, ``workflow``, ``q``, ``limit`` and ``cursor`` from a query string."""
        status_text = (query.get("status") or "").strip()
        status = None
        if status_text:
            try:
                status = RunStatus.parse(status_text)
            except ValueError as error:
                raise FilterError(str(error)) from None
        raw_limit = query.get("limit") or str(DEFAULT_LIMIT)
        try:
            limit = int(raw_limit)
        except ValueError:
            raise FilterError(
                f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw_limit!r}"
            ) from None
        if not 1 <= limit <= MAX_LIMIT:
            raise FilterError(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit}")
        return cls(
            status=status,
            workflow=(query.get("workflow") or "").strip() or None,
            q=(query.get("q") or "").strip() or None,
            limit=limit,
            cursor=query.get("cursor") or None,
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters as query parameters (with ``changes``), for links."""
        values = attrs.evolve(self, **changes)
        out = {
            "status": str(values.status) if values.status else "",
            "workflow": values.workflow or "",
            "q": values.q or "",
            "limit": str(values.limit) if values.limit != DEFAULT_LIMIT else "",
            "cursor": values.cursor or "",
        }
        return {key: value for key, value in out.items() if value}


@attrs.frozen
class Page:
    """One page of runs and the cursor of the next one (``None`` on the last page)."""

    runs: tuple[RunInfo, ...]
    next_cursor: str | None


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = data["o"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise FilterError(
            f"cursor {cursor!r} is not one this server returned; start again without it"
        ) from None
    if not isinstance(offset, int) or offset < 0:
        raise FilterError(f"cursor {cursor!r} is not one this server returned; start again without it")
    return offset


def page(engine: Engine, filters: Filters) -> Page:
    """The page of runs ``filters`` ask for."""
    if filters.q:
        try:
            info = engine.status(filters.q)
        except (RunNotFoundError, ValueError):
            return Page((), None)
        matches = (filters.status is None or info.status == filters.status) and (
            filters.workflow is None or info.workflow == filters.workflow
        )
        return Page((info,) if matches else (), None)
    offset = _decode_cursor(filters.cursor)
    found = engine.runs(
        status=filters.status, workflow=filters.workflow, limit=filters.limit + 1, offset=offset
    )
    more = len(found) > filters.limit
    return Page(tuple(found[: filters.limit]), _encode_cursor(offset + filters.limit) if more else None)


def counts(engine: Engine, filters: Filters) -> dict[str, int]:
    """How many runs are in each status (of ``filters.workflow`` if given)."""
    return {
        str(status): len(engine.runs(status=status, workflow=filters.workflow, limit=None))
        for status in RunStatus
    }
