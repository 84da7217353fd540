"""An in-memory store: the testing runner's store, and ``Engine("memory://")`` for one process.

State lives in dictionaries guarded by one lock; the contract's semantics come from
:mod:`flowgen.stores.logic`, shared with the SQLite store. Nothing survives the process.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs

from ..journal import Entry, read_entry
from ..status import RunStatus
from .base import InboxEvent, RunRecord, StateCounts
from .failures import Reason, store_error
from .flow_tables import MemoryFlowTx, ScoredSet
from .memory_search import MemorySearch
from .transactional import TransactionalStore


class _ScoreIndex:
    """A tiny sorted set: member -> score, ordered by score."""

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self.order: list[tuple[float, str]] = []

    def set(self, member: str, score: float | None) -> None:
        old = self.scores.pop(member, None)
        if old is not None:
            index = bisect.bisect_left(self.order, (old, member))
            del self.order[index]
        if score is not None:
            self.scores[member] = score
            bisect.insort(self.order, (score, member))

    def before(self, bound: float, limit: int) -> list[str]:
        found: list[str] = []
        for score, member in self.order:
            if score > bound or len(found) >= limit:
                break
            found.append(member)
        return found

    def first(self) -> float | None:
        return self.order[0][0] if self.order else None


class _MemoryTx(MemoryFlowTx):
    """:class:`logic.Tx` over the store's dictionaries (the caller holds the lock)."""

    def __init__(self, store: MemoryStore) -> None:
        self.s = store

    def get_meta(self, run_id: str) -> RunRecord | None:
        record = self.s.runs.get(run_id)
        return None if record is None else attrs.evolve(record)

    def put_meta(self, record: RunRecord, old_status: str | None) -> None:
        self.s.runs[record.run_id] = attrs.evolve(record)

    def journal_append(self, run_id: str, entries: Sequence[Entry]) -> None:
        self.s.journals[run_id].extend(entry.to_json() for entry in entries)

    def journal_read(self, run_id: str, offset: int) -> list[Entry]:
        texts = self.s.journals.get(run_id, [])[offset:]
        return [read_entry(text, offset + index) for index, text in enumerate(texts)]

    def inbox_push(self, run_id: str, event_type: str, event: InboxEvent) -> None:
        self.s.inboxes[run_id][event_type].append(event)

    def inbox_peek(self, run_id: str, event_type: str, count: int) -> list[InboxEvent]:
        by_type = self.s.inboxes.get(run_id)
        queue = by_type.get(event_type) if by_type is not None else None
        return list(itertools.islice(queue, count)) if queue else []

    def inbox_pop(self, run_id: str, event_type: str) -> None:
        queue = self.s.inboxes[run_id][event_type]
        queue.popleft()
        if not queue:
            del self.s.inboxes[run_id][event_type]

    def event_seen(self, run_id: str, event_id: str) -> bool:
        return event_id in self.s.seen_events.get(run_id, ())

    def mark_event_seen(self, run_id: str, event_id: str) -> None:
        self.s.seen_events[run_id].add(event_id)

    def branches(self, run_id: str) -> dict[str, dict[str, Any]]:
        return dict(self.s.branches.get(run_id, {}))

    def set_branch(self, run_id: str, key: str, record: dict[str, Any] | None) -> None:
        if record is None:
            self.s.branches.get(run_id, {}).pop(key, None)
        else:
            self.s.branches[run_id][key] = record

    def set_timer(self, run_id: str, due: float | None) -> None:
        self.s.timers.set(run_id, due)

    def due_timers(self, now: float, limit: int) -> list[str]:
        return self.s.timers.before(now, limit)

    def timer_of(self, run_id: str) -> float | None:
        return self.s.timers.scores.get(run_id)

    def set_ready(self, run_id: str, score: float | None) -> None:
        self.s.ready.set(run_id, score)

    def ready_before(self, now: float, limit: int) -> list[str]:
        return self.s.ready.before(now, limit)

    def set_lease_check(self, run_id: str, at: float | None) -> None:
        self.s.leases.set(run_id, at)

    def lease_checks_before(self, now: float, limit: int) -> list[str]:
        return self.s.leases.before(now, limit)

    def clear_scratch(self, run_id: str) -> None:
        self.s.inboxes.pop(run_id, None)
        self.s.branches.pop(run_id, None)

    def notify_finished(self, run_id: str) -> None:
        self.s.finish_count += 1
        self.s.finished.notify_all()

    def journal_truncate(self, run_id: str, length: int) -> None:
        del self.s.journals[run_id][length:]

    def add_child(self, parent_id: str, child_id: str) -> None:
        self.s.child_ids[parent_id].append(child_id)

    def children(self, run_id: str) -> list[str]:
        return sorted(self.s.child_ids.get(run_id, ()))  # by id, as the other stores list them

    def history_push(self, run_id: str, document: dict[str, Any]) -> None:
        self.s.histories[run_id].append(document)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.s.histories.get(run_id, ()))

    def clear_inbox(self, run_id: str) -> None:
        self.s.inboxes.pop(run_id, None)


class MemoryStore(MemorySearch, TransactionalStore):
    """Keeps everything in this process's memory; safe to share between threads."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.finished = threading.Condition(self.lock)
        self.finish_count = 0
        self.runs: dict[str, RunRecord] = {}
        self.journals: defaultdict[str, list[str]] = defaultdict(list)
        self.inboxes: defaultdict[str, defaultdict[str, deque[InboxEvent]]] = defaultdict(
            lambda: defaultdict(deque)
        )
        self.seen_events: defaultdict[str, set[str]] = defaultdict(set)
        self.branches: defaultdict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.timers = _ScoreIndex()
        self.ready = _ScoreIndex()
        self.leases = _ScoreIndex()
        self.child_ids: defaultdict[str, list[str]] = defaultdict(list)
        self.histories: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self.flow_docs: dict[str, str] = {}
        self.flow_sets: dict[str, ScoredSet] = {}

    @contextmanager
    def _write(self) -> Iterator[_MemoryTx]:
        """One transaction: the store's lock, held for the whole body."""
        with self.lock:
            yield _MemoryTx(self)

    _read = _write

    def state_counts(self, now: float) -> StateCounts:
        """Counted over every run in memory (the memory store is for tests; the others read indexes)."""
        with self.lock:
            runs = dict.fromkeys((status.value for status in RunStatus), 0)
            for record in self.runs.values():
                runs[record.status] += 1
            due = sum(1 for score, _ in self.timers.order if score <= now)
            return StateCounts(runs, len(self.timers.scores), due)

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        with self.lock:
            records = [attrs.evolve(record) for record in self.runs.values()]
        selected = [
            r
            for r in records
            if (status is None or r.status == status) and (workflow is None or r.workflow == workflow)
        ]
        selected.sort(key=lambda r: (r.created, r.run_id), reverse=True)
        return selected[offset:] if limit is None else selected[offset : offset + limit]

    def next_timer(self) -> float | None:
        with self.lock:
            return self.timers.first()

    def wait_finished(self, run_id: str, timeout: float | None) -> RunRecord | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.finished:
            while True:
                record = self.runs.get(run_id)
                if record is None:
                    raise store_error(Reason.MISSING, run_id)
                if record.is_finished:
                    return attrs.evolve(record)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self.finished.wait(remaining)

    def wait_any_finished(self, seen: int, timeout: float) -> int:
        """How many runs finished so far, after waiting up to ``timeout`` while it is still ``seen``."""
        with self.finished:
            if self.finish_count == seen:
                self.finished.wait(timeout)
            return self.finish_count

    def inbox(self, run_id: str) -> dict[str, list[InboxEvent]]:
        with self.lock:
            return {t: list(q) for t, q in self.inboxes.get(run_id, {}).items()}
