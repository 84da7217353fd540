"""The schedule store contract, on memory, SQLite and a real Redis (the same tests for each)."""

from __future__ import annotations

import threading

from flowgen.schedules.store import KEEP_RUNS, ScheduleStore, schedules_of
from tests.stores.conftest import OpenStore


def _schedules(open_store: OpenStore) -> ScheduleStore:
    return schedules_of(open_store())


def test_put_creates_once_and_then_only_under_the_current_revision(open_store: OpenStore) -> None:
    schedules = _schedules(open_store)
    assert schedules.put("a", 0, '{"s":1}', '{"t":1}', 100.0, 1.0) == 1
    assert schedules.put("a", 0, '{"s":2}', '{"t":2}', 100.0, 1.0) is None  # exists: not created again
    assert schedules.put("a", 2, '{"s":2}', '{"t":2}', 100.0, 1.0) is None  # wrong revision
    stored = schedules.get("a")
    assert stored is not None and (stored.spec, stored.state, stored.revision) == ('{"s":1}', '{"t":1}', 1)
    assert schedules.put("a", 1, '{"s":2}', '{"t":2}', 100.0, 2.0) == 2
    stored = schedules.get("a")
    assert stored is not None and (stored.spec, stored.revision) == ('{"s":2}', 2)
    assert schedules.get("missing") is None


def test_claim_hands_a_due_schedule_out_once_until_its_claim_lease_ends(open_store: OpenStore) -> None:
    schedules = _schedules(open_store)
    schedules.put("due", 0, "{}", "{}", 10.0, 0.0)
    schedules.put("later", 0, "{}", "{}", 50.0, 0.0)
    schedules.put("paused", 0, "{}", "{}", None, 0.0)
    assert [s.name for s in schedules.claim(20.0, 10, 5.0)] == ["due"]
    assert schedules.claim(20.0, 10, 5.0) == []
    assert schedules.next_due() == 25.0
    assert [s.name for s in schedules.claim(25.0, 10, 5.0)] == ["due"]  # the claimer died: again
    assert [s.name for s in schedules.claim(60.0, 10, 5.0)] == ["due", "later"]


def test_claims_from_two_handles_at_once_never_share_a_schedule(open_store: OpenStore) -> None:
    first, second = schedules_of(open_store()), schedules_of(open_store())
    for i in range(200):
        first.put(f"s{i}", 0, "{}", "{}", 1.0, 0.0)
    claimed: list[list[str]] = [[], []]

    def claim(index: int, schedules: ScheduleStore) -> None:
        while True:
            batch = schedules.claim(2.0, 7, 100.0)
            if not batch:
                return
            claimed[index] += [s.name for s in batch]

    threads = [threading.Thread(target=claim, args=(i, s)) for i, s in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(claimed[0] + claimed[1]) == sorted(f"s{i}" for i in range(200))
    assert not set(claimed[0]) & set(claimed[1])


def test_delete_removes_the_schedule_its_timer_and_its_runs(open_store: OpenStore) -> None:
    schedules = _schedules(open_store)
    schedules.put("a", 0, "{}", "{}", 10.0, 0.0)
    schedules.add_runs("a", [("r1", 1.0)])
    assert schedules.put("a", 1, None, "", None, 0.0) == 0
    assert schedules.get("a") is None
    assert schedules.all() == []
    assert schedules.next_due() is None
    assert schedules.runs("a", 10) == []
    assert schedules.put("a", 0, "{}", "{}", None, 0.0) == 1  # the name is free again


def test_runs_are_recorded_once_latest_first_and_trimmed(open_store: OpenStore) -> None:
    schedules = _schedules(open_store)
    schedules.put("a", 0, "{}", "{}", None, 0.0)
    assert schedules.add_runs("a", [("r1", 1.0), ("r2", 2.0)]) == 2
    assert schedules.add_runs("a", [("r2", 2.0), ("r3", 3.0)]) == 1
    assert schedules.runs("a", 2) == [("r3", 3.0), ("r2", 2.0)]
    schedules.add_runs("a", [(f"x{i:04d}", 10.0 + i) for i in range(KEEP_RUNS + 5)])
    kept = schedules.runs("a", 1000)
    assert len(kept) == KEEP_RUNS
    assert kept[0] == (f"x{KEEP_RUNS + 4:04d}", 10.0 + KEEP_RUNS + 4)


def test_all_lists_schedules_by_name_and_paused_ones_have_no_timer(open_store: OpenStore) -> None:
    schedules = _schedules(open_store)
    schedules.put("b", 0, "{}", "{}", 5.0, 0.0)
    schedules.put("a", 0, "{}", "{}", None, 0.0)
    assert [s.name for s in schedules.all()] == ["a", "b"]
    assert schedules.next_due() == 5.0
    schedules.put("b", 1, "{}", "{}", None, 0.0)
    assert schedules.next_due() is None
    assert schedules.claim(1e12, 10, 1.0) == []


def test_put_many_checks_each_revision_on_its_own_and_add_runs_many_records_each(open_store: OpenStore) -> None:
    schedules = _schedules(open_store)
    schedules.put("a", 0, "{}", "{}", 1.0, 0.0)
    schedules.put("b", 0, "{}", "{}", 1.0, 0.0)
    results = schedules.put_many([("a", 1, '{"a":2}', "{}", 7.0), ("b", 5, '{"b":2}', "{}", 8.0)], 1.0)
    assert results == [2, None]
    a, b = schedules.get("a"), schedules.get("b")
    assert a is not None and (a.spec, a.revision) == ('{"a":2}', 2)
    assert b is not None and (b.spec, b.revision) == ("{}", 1)
    assert schedules.next_due() == 1.0  # b kept its due time; a moved to 7
    assert schedules.put_many([], 1.0) == []
    schedules.add_runs_many({"a": [("r1", 1.0)], "b": [("r2", 2.0), ("r3", 3.0)]})
    assert schedules.runs("a", 10) == [("r1", 1.0)]
    assert schedules.runs("b", 10) == [("r3", 3.0), ("r2", 2.0)]
