"""Finding runs in the Redis store: pages read from the sorted-set indexes, never a scan of runs.

Every index is a zset of run ids scored by creation time: ``P:runs``, ``P:wf:<workflow>``,
``P:status:<status>``, ``P:wf:<workflow>:status:<status>`` and, for tags, ``P:tag:<key>=<value>``
(written by ``lua/tag.lua``). A query picks the narrowest index that covers it (the smallest of
its tags; else its statuses, per workflow if it names one; else the workflow or all runs),
walks it newest first from the cursor's creation time (``ZREVRANGEBYSCORE``; Redis orders equal
scores by member, descending, the same order as the run id tie-break), merging the indexes of
several statuses, and checks the filters the index did not apply on the records it reads. A query
by parent reads the parent's ``children`` set. Tag index entries of runs whose keys expired
(retention) are dropped when a search meets them; ``purge`` removes them with the run.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..status import RunStatus
from .base import RunRecord
from .redis_plans import Plan, commands, script
from .redis_shards import Shards
from .redis_wire import num, text
from .search import Found, RunSearch

if TYPE_CHECKING:
    import redis

    from ..search import RunQuery

TAGS_FIELD = "tags"
"""The field of a run's meta hash that holds its tags (JSON), written by ``lua/tag.lua``."""

BATCH = 200
"""Index members read per round trip while walking an index."""


def _decode(fields: Mapping[Any, Any]) -> Found:
    record = RunRecord.from_fields(fields)
    raw = fields.get(TAGS_FIELD.encode()) or fields.get(TAGS_FIELD)
    return record, (json.loads(raw) if raw else {})


class RedisSearch(RunSearch):
    """:class:`RunSearch` for :class:`~flowgen.stores.redis.RedisStore`."""

    client: redis.Redis
    prefix: str
    shards: Shards

    if TYPE_CHECKING:

        def _run(self, name: str, run_id: str, *args: Any) -> Any: ...
        def _run_on(self, base: str, name: str, *args: Any) -> Any: ...
        def _execute(self, plan: Plan[Any]) -> Any: ...
        def key(self, run_id: str, suffix: str) -> str: ...

    def _tag_indexes(self, key: str, value: str) -> list[str]:
        """The index of runs tagged ``key=value``, one per shard."""
        return [f"{base}:tag:{key}={value}" for base in self.shards.bases]

    def set_tags_plan(self, run_id: str, tags: Mapping[str, str]) -> Plan[bool]:
        """Give the run its tags unless it has some (``tag`` script); whether they were set."""
        if not tags:
            return False
        pairs_ = [item for pair in tags.items() for item in pair]
        reply = yield from script(
            "tag", run_id, json.dumps(dict(tags), sort_keys=True), *pairs_, base=self.shards.base_of(run_id)
        )
        return bool(int(reply))

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> bool:
        done: bool = self._execute(self.set_tags_plan(run_id, tags))
        return done

    def tags_of_plan(self, run_ids: Sequence[str]) -> Plan[dict[str, dict[str, str]]]:
        """The tags of each run (one pipeline of ``HGET``)."""
        raws = yield from commands(*(("HGET", self.key(run_id, "meta"), TAGS_FIELD) for run_id in run_ids))
        return {run_id: (json.loads(raw) if raw else {}) for run_id, raw in zip(run_ids, raws, strict=True)}

    def tags_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        tags: dict[str, dict[str, str]] = self._execute(self.tags_of_plan(run_ids))
        return tags

    # -- choosing and walking indexes -----------------------------------------------------------

    def _indexes(self, query: RunQuery) -> tuple[list[str], bool]:
        """The indexes whose union holds every match, and whether they apply every filter.

        With tags, the smallest candidate set wins: the smallest tag index, or the status
        indexes of the query when they hold fewer runs (a broad tag with a rare status).
        """
        residual = query.parent is not None or query.finished_range
        plain = self._plain_indexes(query)
        if not query.tags:
            return plain, not residual
        options = [self._tag_indexes(key, value) for key, value in query.tags]
        if query.statuses or query.finished_range or query.workflow is not None:
            options.append(plain)
        pipe = self.client.pipeline(transaction=False)
        for option in options:
            for key in option:
                pipe.zcard(key)
        sizes = iter(pipe.execute())
        totals = [sum(int(next(sizes)) for _ in option) for option in options]
        best = min(range(len(options)), key=lambda index: totals[index])
        return options[best], False

    def _plain_indexes(self, query: RunQuery) -> list[str]:
        """The status and workflow indexes of a query (all runs' index if it names neither), of every shard."""
        workflow = query.workflow
        if query.statuses or query.finished_range:
            statuses = query.effective_statuses()
            if workflow is not None:
                return [f"{p}:wf:{workflow}:status:{status}" for p in self.shards.bases for status in statuses]
            return [f"{p}:status:{status}" for p in self.shards.bases for status in statuses]
        return [f"{p}:wf:{workflow}" if workflow is not None else f"{p}:runs" for p in self.shards.bases]

    def _walk(self, index: str, query: RunQuery, start: int) -> Iterator[tuple[float, str]]:
        """``(created, run_id)`` of an index, newest first, within the query's creation range."""
        ceiling = query.created_ceiling()
        high = "+inf" if ceiling is None else num(ceiling)
        if query.created_before is not None and (ceiling is None or ceiling >= query.created_before):
            high = f"({num(query.created_before)}"
        low = "-inf" if query.created_after is None else num(query.created_after)
        offset = start
        while True:
            batch: list[Any] = self.client.zrevrangebyscore(
                index, high, low, start=offset, num=BATCH, withscores=True
            )
            for member, score in batch:
                yield float(score), text(member)
            if len(batch) < BATCH:
                return
            offset += len(batch)

    def _candidates(self, query: RunQuery, indexes: list[str], start: int) -> Iterator[tuple[str, str]]:
        """``(run_id, index)`` of every run the indexes hold for ``query``, newest first, after the cursor."""
        walks: list[Iterator[tuple[float, str, str]]] = [
            ((score, run_id, index) for score, run_id in self._walk(index, query, start)) for index in indexes
        ]
        merged = walks[0] if len(walks) == 1 else heapq.merge(*walks, reverse=True)
        for score, run_id, index in merged:
            if query.after_cursor(score, run_id):
                yield run_id, index

    def _records(self, query: RunQuery, start: int = 0, want: int = BATCH) -> Iterator[Found]:
        """Every run ``query`` selects, newest first (its page not applied but for ``start``).

        Records are read in batches, the first of ``want`` (what a page needs when every
        candidate matches), then larger ones.
        """
        if query.empty():
            return
        if query.parent is not None:
            yield from self._children_of(query)
            return
        indexes, covered = self._indexes(query)
        tag_index = any(":tag:" in index for index in indexes)
        batch: list[tuple[str, str]] = []
        size = max(1, min(want, BATCH))
        for candidate in self._candidates(query, indexes, start if covered and len(indexes) == 1 else 0):
            batch.append(candidate)
            if len(batch) >= size:
                yield from self._read_batch(query, batch, tag_index)
                batch = []
                size = BATCH
        if batch:
            yield from self._read_batch(query, batch, tag_index)

    def _read_batch(self, query: RunQuery, batch: list[tuple[str, str]], tag_index: bool) -> Iterator[Found]:
        pipe = self.client.pipeline(transaction=False)
        for run_id, _ in batch:
            pipe.hgetall(self.key(run_id, "meta"))
        stale: list[tuple[str, str]] = []
        for (run_id, index), fields in zip(batch, pipe.execute(), strict=True):
            if not fields:
                stale.append((index, run_id))
                continue
            record, tags = _decode(fields)
            if query.matches(record, tags):
                yield record, tags
        if stale and tag_index:
            # The run's keys expired (retention) after the sweep ran: forget it in the tag index.
            cleanup = self.client.pipeline(transaction=False)
            for index, run_id in stale:
                cleanup.zrem(index, run_id)
            cleanup.execute()

    def _children_of(self, query: RunQuery) -> Iterator[Found]:
        assert query.parent is not None
        children = [text(child) for child in self.client.smembers(self.key(query.parent, "children"))]
        pipe = self.client.pipeline(transaction=False)
        for child in children:
            pipe.hgetall(self.key(child, "meta"))
        found = [_decode(fields) for fields in pipe.execute() if fields]
        found.sort(key=lambda item: (item[0].created, item[0].run_id), reverse=True)
        yield from (item for item in found if query.matches(*item))

    # -- the contract ---------------------------------------------------------------------------

    def search_runs(self, query: RunQuery) -> list[Found]:
        indexes_cover = not query.tags and query.parent is None and not query.finished_range
        single = indexes_cover and len(self._indexes(query)[0]) == 1
        skip = 0 if single else query.offset
        found: list[Found] = []
        want = BATCH if query.limit is None else query.limit + skip
        for item in self._records(query, query.offset if single else 0, want):
            if skip:
                skip -= 1
                continue
            found.append(item)
            if query.limit is not None and len(found) >= query.limit:
                break
        return found

    def count_runs(self, query: RunQuery) -> dict[str, int]:
        if query.tags or query.parent is not None or query.finished_range or query.cursor is not None:
            counts: dict[str, int] = {}
            for record, _ in self._records(query):
                counts[str(record.status)] = counts.get(str(record.status), 0) + 1
            return counts
        statuses = query.statuses or tuple(RunStatus)
        low = "-inf" if query.created_after is None else num(query.created_after)
        high = "+inf" if query.created_before is None else f"({num(query.created_before)}"
        pipe = self.client.pipeline(transaction=False)
        for p in self.shards.bases:
            for status in statuses:
                index = f"{p}:wf:{query.workflow}:status:{status}" if query.workflow else f"{p}:status:{status}"
                pipe.zcount(index, low, high)
        replies = [int(count) for count in pipe.execute()]
        totals = [sum(replies[column :: len(statuses)]) for column in range(len(statuses))]
        return {str(status): total for status, total in zip(statuses, totals, strict=True) if total}

    def purge_runs(self, run_ids: Sequence[str], before: float) -> list[str]:
        deleted: list[str] = []
        for base, positions in self.shards.group(list(run_ids)).items():
            ids = [run_ids[index] for index in positions]
            for first in range(0, len(ids), BATCH):
                reply = self._run_on(base, "purge", num(before), *ids[first : first + BATCH])
                deleted += [text(run_id) for run_id in reply]
        return deleted
