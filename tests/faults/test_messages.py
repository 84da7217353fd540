"""Messages repeated and racing: duplicate deliveries, event storms, concurrent starts."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

import flowgen
from tests.apps import faults
from tests.conftest import wait_until
from tests.faults.support import Expect, Ledger, Workers, check_scenario, queue_drained, wait_finished

pytestmark = [pytest.mark.faults, pytest.mark.redis]

RUNS = 200


@pytest.fixture
def duplicating() -> Iterator[None]:
    """Make this (test) process send every advance message twice too, as its workers do."""
    from tests.apps import faults_duplicate

    faults_duplicate.install()
    yield
    faults_duplicate.uninstall()


def test_every_interpreter_message_delivered_twice_runs_no_step_twice_and_leaves_journals_unchanged(
    redis_url: str, workers: Workers, ledger: Ledger, duplicating: None
) -> None:
    modules = ("tests.apps.faults", "tests.apps.faults_duplicate")
    workers.start(redis_url, *modules, threads=16)
    workers.start(redis_url, *modules, threads=16)
    with flowgen.Engine(redis_url) as engine:
        ids = [f"dup-{n:03d}" for n in range(RUNS)]
        for n, run_id in enumerate(ids):
            engine.start(faults.mixed, n, run_id=run_id)

        def waiting_for_go() -> bool:
            records = [engine.store.get_run(run_id) for run_id in ids]
            return all(r is not None and r.status == "waiting" and "go" in r.waiting for r in records)

        wait_until(waiting_for_go, 120, "every run to wait for its event")
        for n, run_id in enumerate(ids):
            assert engine.send_event(run_id, "go", n % 7, event_id=f"go-{run_id}") is True
        wait_finished(redis_url, ids, 120)
        expected = {run_id: Expect.completed(faults.expected_mixed(n, n % 7)) for n, run_id in enumerate(ids)}
        journals = check_scenario(redis_url, expected)
        wait_until(queue_drained(redis_url), 60, "every duplicate to be consumed")

        # Late copies of every run's message, delivered after completion, change nothing.
        engine.transport.enqueue(ids)
        wait_until(queue_drained(redis_url), 60, "the late copies to be consumed")
        assert check_scenario(redis_url, expected) == journals

    client = redis.Redis.from_url(redis_url)
    sent_twice = int(client.get("test:duplicates") or 0)
    client.close()
    # start, sleep timer, event, late copy: >= 4 per run. A parallel step's report that wakes the
    # run sends no message: the run continues in the thread that ran the step.
    assert sent_twice >= RUNS * 4, f"only {sent_twice} advance messages were duplicated"
    executions = ledger.executions()
    assert len(executions) == RUNS * 4, "prepare, two parallel parts and finish ran for every run"
    assert set(executions.values()) == {1}, "no step body ran twice"
    for journal in journals.values():
        assert [entry["kind"] for entry in journal] == ["step", "sleep", "all_of", "event", "step"]
        assert all(len(entry.get("attempts", [])) <= 1 for entry in journal)


def test_2000_events_racing_their_waits_with_duplicate_ids_are_each_delivered_once_and_none_lost(
    redis_url: str, workers: Workers, ledger: Ledger
) -> None:
    per_run = 10
    workers.start(redis_url, threads=16)
    workers.start(redis_url, threads=16)
    rng = random.Random(9)
    with flowgen.Engine(redis_url) as engine:
        ids = [f"evt-{n:03d}" for n in range(RUNS)]
        calls = [((rng.random() * 0.5, per_run), None, run_id) for run_id in ids]
        # Sends start at once: events race the runs' first step and each of their ten waits.
        plans = {}
        for run_id in ids:
            plan = []
            for index in range(per_run):
                plan.append(index)
                if rng.random() < 0.2:
                    plan.append(index)  # the same event id again: a retried webhook
            plans[run_id] = plan
        outcomes: dict[str, list[bool]] = {}

        def send_all(run_id: str) -> None:
            outcomes[run_id] = [
                engine.send_event(run_id, "item", {"run": run_id, "i": i}, event_id=f"{run_id}-{i}")
                for i in plans[run_id]
            ]

        assert engine.start_many(faults.collect, calls).created == ids
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send_all, ids))
        sends = sum(len(plan) for plan in plans.values())
        assert sends >= RUNS * per_run + 300
        wait_finished(redis_url, ids, 120)
        expected = {
            run_id: Expect.completed([{"run": run_id, "i": i} for i in range(per_run)]) for run_id in ids
        }
        check_scenario(redis_url, expected)
        for run_id, plan in plans.items():
            first_time = [i not in plan[:k] for k, i in enumerate(plan)]
            assert outcomes[run_id] == first_time, (
                f"{run_id}: a duplicate id was accepted or a new one refused"
            )
            assert engine.store.inbox(run_id) == {}
    assert set(ledger.executions().values()) == {1}


def test_100_concurrent_starts_with_one_run_id_create_exactly_one_run(
    redis_url: str, workers: Workers, ledger: Ledger
) -> None:
    callers = 100
    barrier = threading.Barrier(callers)
    engines = [flowgen.Engine(redis_url) for _ in range(callers)]
    handles: list[object] = [None] * callers

    def start(index: int) -> None:
        engine = engines[index]
        engine.store.client.ping()  # type: ignore[attr-defined]
        barrier.wait(30)
        # Every tenth caller asks for other arguments under the same id: a conflict, not a run.
        arguments = (7, 0) if index % 10 else (8, 0)
        try:
            handles[index] = engine.start(faults.effect, *arguments, run_id="the-one")
        except flowgen.RunIdConflictError as error:
            handles[index] = error

    try:
        threads = [threading.Thread(target=start, args=(i,)) for i in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        client = redis.Redis.from_url(redis_url)
        assert client.zrange("flowgen:runs", 0, -1) == [b"the-one"]
        assert client.llen("flowgen-dramatiq:flowgen") == 1, "one start message was sent"
        record = engines[0].store.get_run("the-one")
        assert record is not None
        winner = engines[0].serializer.decode(record.args, run_id="the-one", slot="args")["args"][0]
        for index, handle in enumerate(handles):
            mine = 7 if index % 10 else 8
            if mine == winner:
                assert isinstance(handle, flowgen.Run) and handle.run_id == "the-one", handle
            else:
                assert isinstance(handle, flowgen.RunIdConflictError), handle
        workers.start(redis_url, threads=4)
        wait_finished(redis_url, ["the-one"], 60)
        check_scenario(redis_url, {"the-one": Expect.completed(faults.expected_effect(winner))})
        assert len(ledger.executions()) == 3 and set(ledger.executions().values()) == {1}
        client.close()
    finally:
        for engine in engines:
            engine.close()
