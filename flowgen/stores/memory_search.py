"""Finding runs in the memory store: a scan of its dictionaries (it holds one process's runs)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .search import Found, RunSearch, purgeable

if TYPE_CHECKING:
    from ..search import RunQuery
    from .base import RunRecord


class MemorySearch(RunSearch):
    """:class:`RunSearch` for :class:`~flowgen.stores.memory.MemoryStore`."""

    # The store's own state (see MemoryStore.__init__).
    lock: Any
    runs: dict[str, RunRecord]

    @property
    def run_tags(self) -> dict[str, dict[str, str]]:
        return self.__dict__.setdefault("_run_tags", {})  # type: ignore[no-any-return]

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> bool:
        with self.lock:
            if run_id not in self.runs or self.run_tags.get(run_id) or not tags:
                return False
            self.run_tags[run_id] = dict(tags)
            return True

    def tags_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        with self.lock:
            return {run_id: dict(self.run_tags.get(run_id, {})) for run_id in run_ids}

    def _selected(self, query: RunQuery) -> list[Found]:
        with self.lock:
            found = [
                (attrs.evolve(record), dict(self.run_tags.get(run_id, {})))
                for run_id, record in self.runs.items()
                if query.matches(record, self.run_tags.get(run_id))
            ]
        found.sort(key=lambda item: (item[0].created, item[0].run_id), reverse=True)
        return found

    def search_runs(self, query: RunQuery) -> list[Found]:
        found = self._selected(query)[query.offset :]
        return found if query.limit is None else found[: query.limit]

    def count_runs(self, query: RunQuery) -> dict[str, int]:
        return dict(Counter(str(record.status) for record, _ in self._selected(query)))

    def purge_runs(self, run_ids: Sequence[str], before: float) -> list[str]:
        deleted: list[str] = []
        store: Any = self  # a MemoryStore: its dictionaries and indexes
        with self.lock:
            for run_id in run_ids:
                record = self.runs.get(run_id)
                if record is None or not purgeable(record, before):
                    continue
                for table in (
                    self.runs,
                    self.run_tags,
                    store.journals,
                    store.inboxes,
                    store.seen_events,
                    store.branches,
                    store.child_ids,
                    store.histories,
                ):
                    table.pop(run_id, None)
                for index in (store.timers, store.ready, store.leases):
                    index.set(run_id, None)
                if record.parent is not None:
                    siblings = store.child_ids.get(record.parent)
                    if siblings and run_id in siblings:
                        siblings.remove(run_id)
                deleted.append(run_id)
        return deleted
