"""Finding runs for the runs page and ``GET /api/v1/runs``: filters, pages, counts.

The filters come from a query string (the page's form and the API take the same parameters),
are checked here with errors that name the parameter, and go to the engine's search
(:meth:`flowgen.Engine.runs` and :meth:`~flowgen.Engine.count`), which answers from the store's
indexes and pages with cursors. ``tag`` takes ``key=value`` (repeatable); ``q`` looks a run up by
its exact id (the fast path an operator uses when a log line names a run).
"""

from __future__ import annotations

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
    tags: tuple[tuple[str, str], ...] = ()
    q: str | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], tags: list[str] | None = None) -> Filters:
        """Parse ``status``, ``workflow``, ``tag``, ``q``, ``limit`` and ``cursor`` from a query
        string (``tags``: the repeated ``tag`` values, when the caller has them all)."""
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
        pairs = []
        for text in tags if tags is not None else [query.get("tag", "")]:
            if not text.strip():
                continue  # an empty tag field of the form: no tag filter
            key, sep, value = text.partition("=")
            if not sep or not key.strip():
                raise FilterError(f"tag must be key=value, such as customer=42, got {text!r}")
            pairs.append((key.strip(), value.strip()))
        return cls(
            status=status,
            workflow=(query.get("workflow") or "").strip() or None,
            tags=tuple(pairs),
            q=(query.get("q") or "").strip() or None,
            limit=limit,
            cursor=query.get("cursor") or None,
        )

    def query(self, **changes: Any) -> list[tuple[str, str]]:
        """These filters as query parameters (with ``changes``), for links and hidden fields."""
        values = attrs.evolve(self, **changes)
        out = [
            ("status", str(values.status) if values.status else ""),
            ("workflow", values.workflow or ""),
            *(("tag", f"{key}={value}") for key, value in values.tags),
            ("q", values.q or ""),
            ("limit", str(values.limit) if values.limit != DEFAULT_LIMIT else ""),
            ("cursor", values.cursor or ""),
        ]
        return [(key, value) for key, value in out if value]

    def search(self) -> dict[str, Any]:
        """The keyword arguments of the engine's search for these filters."""
        return {"workflow": self.workflow, "tags": dict(self.tags) or None}


@attrs.frozen
class Page:
    """One page of runs and the cursor of the next one (``None`` on the last page)."""

    runs: tuple[RunInfo, ...]
    next_cursor: str | None


def page(engine: Engine, filters: Filters) -> Page:
    """The page of runs ``filters`` ask for."""
    if filters.q:
        try:
            info = engine.status(filters.q)
        except (RunNotFoundError, ValueError):
            return Page((), None)
        wanted = dict(filters.tags)
        matches = (
            (filters.status is None or info.status == filters.status)
            and (filters.workflow is None or info.workflow == filters.workflow)
            and all(info.tags.get(key) == value for key, value in wanted.items())
        )
        return Page((info,) if matches else (), None)
    found = engine.runs(status=filters.status, limit=filters.limit, cursor=filters.cursor, **filters.search())
    return Page(tuple(found), found.next_cursor)


def counts(engine: Engine, filters: Filters) -> dict[str, int]:
    """How many runs are in each status (every status listed, zero included)."""
    found = engine.count(**filters.search())
    return {str(status): found.get(str(status), 0) for status in RunStatus}
