"""The store contract of finding runs: tags, searches, counts, and purging finished runs.

:class:`RunSearch` is a base class of :class:`~flowgen.stores.base.Store`; each store implements
it in its own module (``memory_search.py``, ``sqlite_search.py``, ``redis_search.py``) against
its own indexes, so that a query by tag, status or workflow reads the runs that match and a
page continues from its cursor by an index seek. :class:`~flowgen.search.RunQuery` holds the
filters; what an index did not apply, a store checks with :meth:`RunQuery.matches`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..search import RunQuery
    from .base import RunRecord

Found = tuple["RunRecord", dict[str, str]]
"""A run a search found: its record and its tags."""


def purgeable(record: RunRecord, before: float) -> bool:
    """Whether a run may be purged: it finished before ``before`` (epoch seconds)."""
    return record.is_finished and record.finished is not None and record.finished < before


class RunSearch(abc.ABC):
    """Finding runs (see the module docstring); every store implements these."""

    @abc.abstractmethod
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> bool:
        """Give a run its tags, unless it has some already; true if these were set.

        Called by the start that created the run (and by a repeated start of the same run id,
        which so completes a start interrupted between creating the run and tagging it).
        """

    @abc.abstractmethod
    def tags_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Return the tags of each run (``{}`` for a run without tags or unknown)."""

    @abc.abstractmethod
    def search_runs(self, query: RunQuery) -> list[Found]:
        """Return the runs ``query`` selects, newest first (creation time, then run id)."""

    @abc.abstractmethod
    def count_runs(self, query: RunQuery) -> dict[str, int]:
        """Count the runs ``query`` selects (its page is ignored), by status; zeros left out."""

    @abc.abstractmethod
    def purge_runs(self, run_ids: Sequence[str], before: float) -> list[str]:
        """Delete every trace of the runs among ``run_ids`` that finished before ``before``.

        A run that is not finished, finished later, or is gone is skipped (checked in the same
        transaction as the delete, so a run restarted meanwhile is kept). Returns the ids deleted.
        """
