"""The primitives of :class:`~flowgen.stores.flow_logic.FlowTx` for the memory and SQLite stores.

Mixed into their transaction classes: scored sets (``flow_sets`` in SQLite, a dict of sorted
indexes in memory) and one flow document per run (``flow_runs``). New tables, so an existing
SQLite file gains them at open (``CREATE TABLE IF NOT EXISTS``) and nothing else changes.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .memory import MemoryStore

FLOW_SCHEMA = """
CREATE TABLE IF NOT EXISTS flow_runs (
    run_id   TEXT PRIMARY KEY,
    document TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS flow_sets (
    name   TEXT NOT NULL,
    member TEXT NOT NULL,
    score  REAL NOT NULL,
    PRIMARY KEY (name, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS flow_sets_by_score ON flow_sets (name, score, member);
"""


class ScoredSet:
    """A small sorted set in memory: member -> score, kept in (score, member) order."""

    __slots__ = ("order", "scores")

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self.order: list[tuple[float, str]] = []

    def add(self, member: str, score: float) -> None:
        self.remove(member)
        self.scores[member] = score
        bisect.insort(self.order, (score, member))

    def remove(self, member: str) -> None:
        old = self.scores.pop(member, None)
        if old is not None:
            del self.order[bisect.bisect_left(self.order, (old, member))]

    def prune(self, upto: float) -> None:
        cut = bisect.bisect_right(self.order, (upto, "\U0010ffff"))
        for _score, member in self.order[:cut]:
            del self.scores[member]
        del self.order[:cut]

    def count(self, upto: float) -> int:
        return bisect.bisect_right(self.order, (upto, "\U0010ffff"))

    def rank(self, member: str) -> int | None:
        score = self.scores.get(member)
        return None if score is None else bisect.bisect_left(self.order, (score, member))


class MemoryFlowTx:
    """Flow primitives over ``self.s.flow_docs`` and ``self.s.flow_sets`` (the store's lock is held)."""

    s: MemoryStore

    def flow_get(self, run_id: str) -> dict[str, Any] | None:
        document = self.s.flow_docs.get(run_id)
        return None if document is None else json.loads(document)

    def flow_put(self, run_id: str, document: dict[str, Any]) -> None:
        self.s.flow_docs[run_id] = json.dumps(document)

    def zadd(self, name: str, member: str, score: float) -> None:
        self.s.flow_sets.setdefault(name, ScoredSet()).add(member, score)

    def zrem(self, name: str, member: str) -> None:
        found = self.s.flow_sets.get(name)
        if found is not None:
            found.remove(member)
            if not found.order:
                del self.s.flow_sets[name]  # like Redis: an empty set is no set

    def zscore(self, name: str, member: str) -> float | None:
        found = self.s.flow_sets.get(name)
        return None if found is None else found.scores.get(member)

    def zhead(self, name: str, count: int) -> list[tuple[str, float]]:
        found = self.s.flow_sets.get(name)
        return [] if found is None else [(member, score) for score, member in found.order[:count]]

    def zcard(self, name: str) -> int:
        found = self.s.flow_sets.get(name)
        return 0 if found is None else len(found.order)

    def zprune(self, name: str, upto: float) -> None:
        found = self.s.flow_sets.get(name)
        if found is not None:
            found.prune(upto)
            if not found.order:
                del self.s.flow_sets[name]

    def zcount(self, name: str, upto: float) -> int:
        found = self.s.flow_sets.get(name)
        return 0 if found is None else found.count(upto)

    def zrank(self, name: str, member: str) -> int | None:
        found = self.s.flow_sets.get(name)
        return None if found is None else found.rank(member)


class SQLiteFlowTx:
    """Flow primitives over the ``flow_runs`` and ``flow_sets`` tables (inside the open transaction)."""

    conn: sqlite3.Connection

    def flow_get(self, run_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT document FROM flow_runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def flow_put(self, run_id: str, document: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO flow_runs (run_id, document) VALUES (?, ?)",
            (run_id, json.dumps(document)),
        )

    def zadd(self, name: str, member: str, score: float) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO flow_sets (name, member, score) VALUES (?, ?, ?)", (name, member, score)
        )

    def zrem(self, name: str, member: str) -> None:
        self.conn.execute("DELETE FROM flow_sets WHERE name = ? AND member = ?", (name, member))

    def zscore(self, name: str, member: str) -> float | None:
        row = self.conn.execute(
            "SELECT score FROM flow_sets WHERE name = ? AND member = ?", (name, member)
        ).fetchone()
        return None if row is None else float(row[0])

    def zhead(self, name: str, count: int) -> list[tuple[str, float]]:
        rows = self.conn.execute(
            "SELECT member, score FROM flow_sets WHERE name = ? ORDER BY score, member LIMIT ?", (name, count)
        ).fetchall()
        return [(str(member), float(score)) for member, score in rows]

    def zcard(self, name: str) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM flow_sets WHERE name = ?", (name,)).fetchone()[0])

    def zprune(self, name: str, upto: float) -> None:
        self.conn.execute("DELETE FROM flow_sets WHERE name = ? AND score <= ?", (name, upto))

    def zcount(self, name: str, upto: float) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM flow_sets WHERE name = ? AND score <= ?", (name, upto))
        return int(row.fetchone()[0])

    def zrank(self, name: str, member: str) -> int | None:
        score = self.zscore(name, member)
        if score is None:
            return None
        row = self.conn.execute(
            "SELECT COUNT(*) FROM flow_sets WHERE name = ? AND (score < ? OR (score = ? AND member < ?))",
            (name, score, score, member),
        ).fetchone()
        return int(row[0])
