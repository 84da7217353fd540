"""Finding runs in the SQLite store: the ``run_tags`` table and the listing indexes.

``run_tags`` holds one row per tag of a run, with the run's creation time, indexed by
``(key, value, created, run_id)``: a query by tag seeks to the tag and reads its runs newest
first, and a cursor seeks within it. Queries without tags use the ``runs`` indexes by status,
workflow, parent and creation time. The tables are created with the rest of the schema
(:data:`SEARCH_SCHEMA`), so older database files gain them when first opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .search import Found, RunSearch, purgeable
from .sqlite_tables import RUN_COLUMNS, TABLES_OF_A_RUN, record_from_row

if TYPE_CHECKING:
    from ..search import RunQuery
    from .sqlite_tables import SQLiteTx

SEARCH_SCHEMA = """;
CREATE TABLE IF NOT EXISTS run_tags (
    run_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_tags_by_value ON run_tags (key, value, created, run_id);
CREATE INDEX IF NOT EXISTS runs_by_parent ON runs (parent, created, run_id) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_finished ON runs (finished) WHERE finished IS NOT NULL;
"""

SELECT_RUNS = "SELECT " + ", ".join(f"r.{column}" for column in RUN_COLUMNS)


def _where(query: RunQuery) -> tuple[str, str, list[Any], str]:
    """The FROM and WHERE of ``query``, their parameters, and the sort columns (table alias)."""
    joins: list[str] = []
    clauses: list[str] = []
    params: list[Any] = []
    for number, (key, value) in enumerate(query.tags):
        joins.append(
            f" JOIN run_tags t{number} ON t{number}.run_id = r.run_id"
            f" AND t{number}.key = ? AND t{number}.value = ?"
        )
        params += [key, value]
    # With a tag, sort on the tag's own index (same creation time), so a page is a seek into it.
    order = "t0" if query.tags else "r"
    statuses = query.effective_statuses()
    if query.statuses or query.finished_range:
        clauses.append(f"r.status IN ({', '.join('?' for _ in statuses)})")
        params += [str(status) for status in statuses]
    for column, wanted in (("workflow", query.workflow), ("parent", query.parent)):
        if wanted is not None:
            clauses.append(f"r.{column} = ?")
            params.append(wanted)
    for column, bound, operator in (
        ("created", query.created_after, ">="),
        ("created", query.created_before, "<"),
        ("finished", query.finished_after, ">="),
        ("finished", query.finished_before, "<"),
    ):
        if bound is not None:
            clauses.append(f"r.{column} {operator} ?")
            params.append(bound)
    if query.cursor is not None:
        clauses.append(f"({order}.created, {order}.run_id) < (?, ?)")
        params += [query.cursor.created, query.cursor.run_id]
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return " FROM runs r" + "".join(joins), where, params, order


class SQLiteSearch(RunSearch):
    """:class:`RunSearch` for :class:`~flowgen.stores.sqlite.SQLiteStore`."""

    if TYPE_CHECKING:

        def _read(self) -> AbstractContextManager[SQLiteTx]: ...
        def _write(self) -> AbstractContextManager[SQLiteTx]: ...

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> bool:
        if not tags:
            return False
        with self._write() as tx:
            row = tx.conn.execute("SELECT created FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if (
                row is None
                or tx.conn.execute("SELECT 1 FROM run_tags WHERE run_id = ?", (run_id,)).fetchone()
            ):
                return False
            tx.conn.executemany(
                "INSERT INTO run_tags (run_id, key, value, created) VALUES (?, ?, ?, ?)",
                [(run_id, key, value, row[0]) for key, value in tags.items()],
            )
            return True

    def tags_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        tags: dict[str, dict[str, str]] = {run_id: {} for run_id in run_ids}
        with self._read() as tx:
            for chunk in _chunks(list(run_ids), 500):
                rows = tx.conn.execute(
                    f"SELECT run_id, key, value FROM run_tags WHERE run_id IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                ).fetchall()
                for run_id, key, value in rows:
                    tags[run_id][key] = value
        return tags

    def search_runs(self, query: RunQuery) -> list[Found]:
        if query.empty():
            return []
        source, where, params, order = _where(query)
        sql = f"{SELECT_RUNS}{source}{where} ORDER BY {order}.created DESC, {order}.run_id DESC LIMIT ? OFFSET ?"
        with self._read() as tx:
            rows = tx.conn.execute(sql, (*params, -1 if query.limit is None else query.limit, query.offset))
            records = [record_from_row(row) for row in rows.fetchall()]
        tags = self.tags_of([record.run_id for record in records])
        return [(record, tags[record.run_id]) for record in records]

    def count_runs(self, query: RunQuery) -> dict[str, int]:
        if query.empty():
            return {}
        source, where, params, _ = _where(query)
        with self._read() as tx:
            rows = tx.conn.execute(f"SELECT r.status, COUNT(*){source}{where} GROUP BY r.status", params)
            return {str(status): int(count) for status, count in rows.fetchall()}

    def purge_runs(self, run_ids: Sequence[str], before: float) -> list[str]:
        deleted: list[str] = []
        for chunk in _chunks(list(run_ids), 200):
            with self._write() as tx:
                for run_id in chunk:
                    record = tx.get_meta(run_id)
                    if record is None or not purgeable(record, before):
                        continue
                    for table in TABLES_OF_A_RUN:
                        tx.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
                    tx.conn.execute("DELETE FROM children WHERE child = ?", (run_id,))
                    deleted.append(run_id)
        return deleted


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]
