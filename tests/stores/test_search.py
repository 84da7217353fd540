"""Conformance: tags, searches by every filter, cursor pages, counts and purges, on all three stores."""

from __future__ import annotations

import attrs
import pytest

from flowgen.search import Cursor, RunQuery, build_query
from flowgen.status import RunStatus
from flowgen.stores.base import Finish, Store

from .support import GRACE, TTL, T, change, new_run


def make(
    store: Store,
    run_id: str,
    *,
    at: float,
    workflow: str = "wf",
    tags: dict[str, str] | None = None,
    parent: str | None = None,
    finish: RunStatus | None = None,
    finished_at: float | None = None,
) -> None:
    was_created, _ = store.create_run(new_run(run_id, workflow, created=at, parent=parent), at, GRACE)
    assert was_created
    if tags:
        assert store.set_tags(run_id, tags)
    if finish is not None:
        when = finished_at if finished_at is not None else at + 1
        snapshot = store.acquire(run_id, "w1", TTL, when)
        assert snapshot is not None
        assert store.commit(
            change(
                snapshot,
                Finish(
                    finish,
                    output='"x"' if finish == "completed" else None,
                    error=None if finish == "completed" else {"type": "E", "message": "m"},
                ),
            ),
            when,
            GRACE,
        ).ok


def ids(store: Store, **filters: object) -> list[str]:
    return [record.run_id for record, _ in store.search_runs(build_query(limit=None, **filters))]  # type: ignore[arg-type]


@pytest.fixture
def populated(store: Store) -> Store:
    make(store, "a", at=T + 1, tags={"customer": "42", "region": "eu"})
    make(store, "b", at=T + 2, tags={"customer": "42", "region": "us"}, finish=RunStatus.COMPLETED)
    make(store, "c", at=T + 3, workflow="other", tags={"customer": "7"}, finish=RunStatus.FAILED)
    make(store, "a/d", at=T + 4, parent="a")
    make(store, "a/e", at=T + 4, parent="a", finish=RunStatus.COMPLETED, finished_at=T + 100)
    return store


def test_tags_are_set_once_and_read_back(populated: Store) -> None:
    assert not populated.set_tags("a", {"customer": "99"})
    assert not populated.set_tags("missing", {"customer": "1"})
    assert populated.tags_of(["a", "a/d", "missing"]) == {
        "a": {"customer": "42", "region": "eu"},
        "a/d": {},
        "missing": {},
    }


def test_every_filter_selects_newest_first(populated: Store) -> None:
    assert ids(populated) == ["a/e", "a/d", "c", "b", "a"]
    assert ids(populated, tags={"customer": "42"}) == ["b", "a"]
    assert ids(populated, tags={"customer": "42", "region": "eu"}) == ["a"]
    assert ids(populated, tags={"customer": "42"}, status="completed") == ["b"]
    assert ids(populated, tags={"customer": "nobody"}) == []
    assert ids(populated, status=["completed", "failed"]) == ["a/e", "c", "b"]
    assert ids(populated, workflow="other") == ["c"]
    assert ids(populated, workflow="wf", status="queued") == ["a/d", "a"]
    assert ids(populated, parent="a") == ["a/e", "a/d"]
    assert ids(populated, parent="a", status="completed") == ["a/e"]
    assert ids(populated, created_after=T + 2, created_before=T + 4) == ["c", "b"]
    assert ids(populated, finished_before=T + 50) == ["c", "b"]
    assert ids(populated, finished_after=T + 50) == ["a/e"]
    assert ids(populated, finished_after=T, status="queued") == []


def test_a_cursor_continues_after_the_last_run_even_among_equal_creation_times(store: Store) -> None:
    for number in range(7):
        make(store, f"r{number}", at=T + (number // 3), tags={"k": "v"})
    for filters in ({}, {"tags": {"k": "v"}}, {"status": "queued"}):
        seen: list[str] = []
        query: RunQuery = build_query(limit=2, **filters)  # type: ignore[arg-type]
        while True:
            page = store.search_runs(query)
            seen += [record.run_id for record, _ in page]
            if len(page) < 2:
                break
            last = page[-1][0]
            query = attrs.evolve(query, cursor=Cursor(last.created, last.run_id))
        assert seen == ["r6", "r5", "r4", "r3", "r2", "r1", "r0"], filters
    assert [r.run_id for r, _ in store.search_runs(build_query(limit=2, offset=3))] == ["r3", "r2"]


def test_counts_by_status(populated: Store) -> None:
    assert populated.count_runs(build_query(limit=None)) == {"queued": 2, "completed": 2, "failed": 1}
    assert populated.count_runs(build_query(tags={"customer": "42"}, limit=None)) == {
        "queued": 1,
        "completed": 1,
    }
    assert populated.count_runs(build_query(workflow="other", limit=None)) == {"failed": 1}
    assert populated.count_runs(build_query(status="completed", created_after=T + 3, limit=None)) == {
        "completed": 1
    }


def test_purge_deletes_only_runs_finished_before_the_cutoff(populated: Store) -> None:
    deleted = populated.purge_runs(["a", "b", "c", "a/e", "missing"], T + 50)
    assert sorted(deleted) == ["b", "c"]
    assert populated.get_run("b") is None and populated.get_run("c") is None
    assert populated.read_journal("b") == []
    assert ids(populated) == ["a/e", "a/d", "a"]
    assert ids(populated, tags={"customer": "42"}) == ["a"]
    assert populated.count_runs(build_query(limit=None)) == {"queued": 2, "completed": 1}
    assert populated.purge_runs(["b"], T + 50) == []
