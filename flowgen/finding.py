"""Finding runs and cleaning up: the listing, counting, events, timeline and purge of the engine.

:class:`RunFinding` is a base class of :class:`flowgen.Engine`, next to
:class:`~flowgen.inspection.RunInspection`. Listings take the filters of
:func:`flowgen.search.build_query` and return a :class:`~flowgen.search.RunPage` (a list with a
``next_cursor``); ``RunFinding._select`` walks every page, for bulk actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from . import slots
from .clock import Clock
from .durations import parse_duration
from .inspection import RunInspection
from .search import Cursor, RunPage, RunQuery, build_query
from .status import FINISHED
from .timeline import iso, timeline

Time = datetime | float | str | None

PURGE_BATCH = 500


class RunFinding(RunInspection):
    """Listing, counting and purging runs; a run's events and timeline."""

    clock: Clock

    def runs(
        self,
        status: str | Iterable[str] | None = None,
        workflow: Any = None,
        limit: int | None = 100,
        offset: int = 0,
        *,
        tags: Mapping[str, str] | None = None,
        parent: str | None = None,
        created_after: Time = None,
        created_before: Time = None,
        finished_after: Time = None,
        finished_before: Time = None,
        cursor: str | None = None,
    ) -> RunPage:
        """List runs, newest first; every filter given must hold.

        Args:
            status: a status or several (any of them).
            workflow: a ``@flowgen.workflow`` or its name.
            tags: runs carrying every one of these tags.
            parent: the child runs of this run id.
            created_after / created_before, finished_after / finished_before: time ranges
                (``after`` inclusive, ``before`` exclusive): aware datetimes, epoch seconds or
                ISO 8601 text; a finish range keeps finished runs only.
            limit: the most runs of the page (>= 1), or ``None`` for all.
            offset: matching runs to skip (prefer ``cursor`` beyond the first pages).
            cursor: the ``next_cursor`` of the previous page.

        Returns:
            A :class:`~flowgen.search.RunPage` of :class:`~flowgen.RunInfo`; its
            ``next_cursor`` is ``None`` on the last page.

        Raises:
            ValueError: an unknown status (the message lists the valid ones), a bad tag,
                time, limit, offset or cursor.
        """
        query = build_query(
            status=status,
            workflow=workflow,
            tags=tags,
            parent=parent,
            created_after=created_after,
            created_before=created_before,
            finished_after=finished_after,
            finished_before=finished_before,
            limit=limit,
            offset=offset,
            cursor=cursor,
        )
        return self._page(query)

    def _page(self, query: RunQuery) -> RunPage:
        """The page of runs a :class:`~flowgen.search.RunQuery` selects (see :meth:`runs`)."""
        probe = query if query.limit is None else attrs.evolve(query, limit=query.limit + 1)
        found = self.store.search_runs(probe)
        more = query.limit is not None and len(found) > query.limit
        found = found[: query.limit] if more else found
        infos = [self.run_info(record, tags) for record, tags in found]
        last = found[-1][0] if more else None
        return RunPage(infos, None if last is None else Cursor(last.created, last.run_id).encode())

    def count(
        self,
        status: str | Iterable[str] | None = None,
        workflow: Any = None,
        *,
        tags: Mapping[str, str] | None = None,
        parent: str | None = None,
        created_after: Time = None,
        created_before: Time = None,
        finished_after: Time = None,
        finished_before: Time = None,
    ) -> dict[str, int]:
        """Count the runs the filters of :meth:`runs` select, by status (statuses with none left out).

        ``sum(engine.count(...).values())`` is the total.
        """
        query = build_query(
            status=status,
            workflow=workflow,
            tags=tags,
            parent=parent,
            created_after=created_after,
            created_before=created_before,
            finished_after=finished_after,
            finished_before=finished_before,
            limit=None,
        )
        return self.store.count_runs(query)

    def _select(self, query: RunQuery) -> Iterator[str]:
        """The ids of every run ``query`` selects, page after page (for bulk actions)."""
        page_size = 500 if query.limit is None else min(500, query.limit)
        remaining = query.limit
        current = attrs.evolve(query, limit=page_size)
        while True:
            found = self.store.search_runs(current)
            for record, _ in found:
                if remaining is not None:
                    if remaining <= 0:
                        return
                    remaining -= 1
                yield record.run_id
            if len(found) < page_size:
                return
            last = found[-1][0]
            current = attrs.evolve(current, offset=0, cursor=Cursor(last.created, last.run_id))

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """A run's buffered events (its inbox), oldest first within each type.

        Each is ``{"type", "id", "sent", "payload"}``; ``sent`` is ISO 8601 UTC, ``payload``
        decoded (``"<undecodable: ...>"`` when this process cannot decode it).

        Raises:
            RunNotFoundError: no such run.
        """
        self._record(run_id)
        found: list[dict[str, Any]] = []
        for event_type, events in sorted(self.store.inbox(run_id).items()):
            for event in events:
                try:
                    payload = self.serializer.decode(
                        event.payload, run_id=run_id, slot=slots.event(event_type, event.id)
                    )
                except Exception as error:
                    payload = f"<undecodable: {error}>"
                found.append(
                    {"type": event_type, "id": event.id, "sent": iso(event.sent), "payload": payload}
                )
        return found

    def timeline(self, run_id: str) -> dict[str, Any]:
        """A run's timeline: every journal entry, readable (the fields: docs/operations.md, ``flowgen history``).

        Raises:
            RunNotFoundError: no such run.
        """
        record = self._record(run_id)
        return timeline(record, self.store.read_journal(run_id), self.store.history(run_id))

    def purge(
        self,
        older_than: Any,
        *,
        dry_run: bool = False,
        workflow: Any = None,
        status: str | Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Delete the finished runs that finished more than ``older_than`` ago (a duration).

        Only ``completed``, ``failed`` and ``cancelled`` runs are deleted, with everything stored
        about them (journal, events, history, tags); ``status`` narrows to some of those.

        Returns:
            The ids deleted (with ``dry_run``: the ids that would be, nothing is deleted).

        Raises:
            ValueError: a bad duration, or a ``status`` that is not a finished one.
        """
        seconds = parse_duration(older_than, what="older_than")
        cutoff = self.clock.now() - seconds
        query = build_query(workflow=workflow, status=status, tags=tags, finished_before=cutoff, limit=None)
        unfinished = [s for s in query.statuses if s not in FINISHED]
        if unfinished:
            raise ValueError(
                f"purge deletes finished runs only; {', '.join(unfinished)} is not a finished status "
                "(use completed, failed or cancelled)"
            )
        candidates = list(self._select(query))
        if dry_run:
            return candidates
        deleted: list[str] = []
        for first in range(0, len(candidates), PURGE_BATCH):
            deleted += self.store.purge_runs(candidates[first : first + PURGE_BATCH], cutoff)
        return deleted
