"""Where schedules are kept: the :class:`ScheduleStore` contract and its in-memory implementation.

A schedule store keeps, per schedule, its spec and state (JSON texts) under a revision, an
index of **due times** (the schedule's durable timer: its next tick, or sooner while ticks are
buffered), and the ids of its latest runs by tick. Every method is atomic; the SQLite and Redis
implementations are :mod:`.sqlite` and :mod:`.redis` (Lua scripts in ``lua/``), and
``tests/stores/test_schedules.py`` runs the same tests on all three.

Claiming is what makes any number of workers safe: :meth:`ScheduleStore.claim` hands each due
schedule to one caller and moves its due time ``ttl`` seconds ahead (a claim lease), so a
worker that dies while firing a tick only delays that tick: the next claim after the lease
fires it again, under the same run ids, which the idempotent start turns into no second run.
"""

from __future__ import annotations

import abc
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

KEEP_RUNS = 100
"""How many of its latest runs a schedule keeps track of (by tick)."""


@attrs.frozen
class StoredSchedule:
    """A schedule as stored: its spec and state as JSON, and the revision they were written under."""

    name: str
    spec: str
    state: str
    revision: int


class ScheduleStore(abc.ABC):
    """The persistence contract of schedules (see the module docstring)."""

    @abc.abstractmethod
    def get(self, name: str) -> StoredSchedule | None:
        """Return the schedule, or ``None``."""

    @abc.abstractmethod
    def all(self) -> list[StoredSchedule]:
        """Return every schedule, by name."""

    @abc.abstractmethod
    def put(
        self, name: str, expected: int, spec: str | None, state: str, due: float | None, now: float
    ) -> int | None:
        """Write the schedule if its revision is still ``expected``; return the new revision.

        ``expected == 0`` creates it (refused if it exists); ``spec=None`` deletes it (and its
        runs index). ``due`` is when it should be claimed next (``None``: never, e.g. paused).
        Returns ``None`` (nothing written) when the revision moved.
        """

    @abc.abstractmethod
    def claim(self, now: float, limit: int, ttl: float) -> list[StoredSchedule]:
        """Return up to ``limit`` schedules due at ``now``, each moved to ``now + ttl`` first."""

    @abc.abstractmethod
    def next_due(self) -> float | None:
        """Return the earliest due time, or ``None``."""

    @abc.abstractmethod
    def add_runs(self, name: str, runs: Sequence[tuple[str, float]]) -> int:
        """Record ``(run_id, tick)`` pairs as runs of the schedule; return how many were new.

        Only the :data:`KEEP_RUNS` latest ticks are kept.
        """

    @abc.abstractmethod
    def runs(self, name: str, limit: int) -> list[tuple[str, float]]:
        """Return the schedule's latest runs ``(run_id, tick)``, latest tick first."""

    def put_many(
        self, writes: Sequence[tuple[str, int, str | None, str, float | None]], now: float
    ) -> list[int | None]:
        """:meth:`put` each ``(name, expected, spec, state, due)``, each atomic on its own; the results in order."""
        return [
            self.put(name, expected, spec, state, due, now) for name, expected, spec, state, due in writes
        ]

    def add_runs_many(self, runs: Mapping[str, Sequence[tuple[str, float]]]) -> None:
        """:meth:`add_runs` for several schedules."""
        for name, pairs in runs.items():
            self.add_runs(name, pairs)


class MemorySchedules(ScheduleStore):
    """Schedules in this process's memory (the memory store, the testing Runner)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, StoredSchedule] = {}
        self._due: dict[str, float] = {}
        self._runs: dict[str, dict[str, float]] = {}

    def get(self, name: str) -> StoredSchedule | None:
        with self._lock:
            return self._records.get(name)

    def all(self) -> list[StoredSchedule]:
        with self._lock:
            return [self._records[name] for name in sorted(self._records)]

    def put(
        self, name: str, expected: int, spec: str | None, state: str, due: float | None, now: float
    ) -> int | None:
        with self._lock:
            current = self._records.get(name)
            if (current.revision if current else 0) != expected:
                return None
            if spec is None:
                self._records.pop(name, None)
                self._due.pop(name, None)
                self._runs.pop(name, None)
                return 0
            self._records[name] = StoredSchedule(name, spec, state, expected + 1)
            if due is None:
                self._due.pop(name, None)
            else:
                self._due[name] = due
            return expected + 1

    def claim(self, now: float, limit: int, ttl: float) -> list[StoredSchedule]:
        with self._lock:
            due = sorted((when, name) for name, when in self._due.items() if when <= now)[:limit]
            for _, name in due:
                self._due[name] = now + ttl
            return [self._records[name] for _, name in due]

    def next_due(self) -> float | None:
        with self._lock:
            return min(self._due.values(), default=None)

    def add_runs(self, name: str, runs: Sequence[tuple[str, float]]) -> int:
        with self._lock:
            known = self._runs.setdefault(name, {})
            added = 0
            for run_id, tick in runs:
                if run_id not in known:
                    known[run_id] = tick
                    added += 1
            if len(known) > KEEP_RUNS:
                ordered = sorted(known.items(), key=lambda item: (item[1], item[0]))
                self._runs[name] = dict(ordered[-KEEP_RUNS:])
            return added

    def runs(self, name: str, limit: int) -> list[tuple[str, float]]:
        with self._lock:
            ordered = sorted(self._runs.get(name, {}).items(), key=lambda item: (item[1], item[0]))
            return [(run_id, tick) for run_id, tick in reversed(ordered)][:limit]


_attached: weakref.WeakKeyDictionary[Any, ScheduleStore] = weakref.WeakKeyDictionary()
_attach_lock = threading.Lock()


def schedules_of(store: Any) -> ScheduleStore:
    """Return the schedule store that lives beside a run store (one per run store object)."""
    with _attach_lock:
        found = _attached.get(store)
        if found is None:
            found = _build(store)
            _attached[store] = found
        return found


def _build(store: Any) -> ScheduleStore:
    from ..stores.memory import MemoryStore

    if isinstance(store, MemoryStore):
        return MemorySchedules()
    from ..stores.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        from .sqlite import SQLiteSchedules

        return SQLiteSchedules(store)
    try:
        from ..stores.redis import RedisStore
    except ImportError:  # pragma: no cover - redis is a dependency of dramatiq[redis]
        RedisStore = None  # type: ignore[assignment,misc]
    if RedisStore is not None and isinstance(store, RedisStore):
        from .redis import RedisSchedules

        return RedisSchedules(store)
    schedules = getattr(store, "schedules", None)
    if isinstance(schedules, ScheduleStore):
        return schedules
    raise TypeError(
        f"{type(store).__name__} keeps no schedules: give it a `schedules` attribute holding a ScheduleStore"
    )


__all__ = ["KEEP_RUNS", "MemorySchedules", "ScheduleStore", "StoredSchedule", "schedules_of"]
