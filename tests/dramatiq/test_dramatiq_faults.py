"""The fault suite's core scenarios against ``dramatiq`` CLI workers on the app's broker.

The same guarantees as with ``flowgen worker`` (tests/faults/test_worker_crashes.py): a kill -9
mid-step loses nothing and reruns only the interrupted step, with the same idempotency key and
its effect applied once; a crash after a step body returned and before its result was journaled
(the ``after_step_body`` fault point) reruns that step once with the same key; a graceful stop (SIGTERM to the ``dramatiq`` process) lets each run
finish its current step and hands it over, running no step twice. On Redis and on RabbitMQ.
The workflows are the fault suite's (tests/apps/faults.py), with short leases
(``FLOWGEN_TEST_FAST``).
"""

from __future__ import annotations

import time
from typing import Any

import dramatiq
import pytest

import flowgen
from tests.apps import faults
from tests.conftest import wait_until
from tests.dramatiq.conftest import DramatiqWorkers
from tests.faults.support import Expect, Ledger, check_scenario, start_runs, wait_finished

pytestmark = [pytest.mark.faults, pytest.mark.redis]

RUNS = 40


@pytest.fixture
def ledger(redis_url: str) -> Ledger:
    return Ledger(redis_url)


def test_kill_9_of_a_dramatiq_worker_mid_step_is_recovered_rerunning_only_the_interrupted_steps(
    app_broker: tuple[str, str, dramatiq.Broker],
    client: flowgen.Engine,
    dramatiq_workers: DramatiqWorkers,
    redis_url: str,
    ledger: Ledger,
) -> None:
    kind, url, _ = app_broker
    first = dramatiq_workers.start(kind, url, redis_url, threads=RUNS, fast=True)
    victims = first.worker_pids()
    ids = start_runs(client, "faults.effect", "kill", [(n, 1.5) for n in range(RUNS)])

    def inside_the_step_past_the_effect() -> set[str]:
        applied = {e["run"] for e in ledger.entries("faults.pay", "effect") if e["pid"] in victims}
        ended = {e["run"] for e in ledger.entries("faults.pay", "end") if e["pid"] in victims}
        inside = applied - ended
        return inside if len(inside) >= RUNS // 2 else set()

    wait_until(inside_the_step_past_the_effect, 60, "half the runs to be inside the slow step")
    first.kill()
    killed_at = time.time()
    started = {e["run"] for e in ledger.entries("faults.pay") if e["pid"] in victims}
    ended = {e["run"] for e in ledger.entries("faults.pay", "end") if e["pid"] in victims}
    interrupted = started - ended

    second = dramatiq_workers.start(kind, url, redis_url, threads=RUNS, fast=True)
    ready_at = max(time.time(), killed_at)
    wait_finished(redis_url, ids, 90)
    check_scenario(redis_url, {run_id: Expect.completed(faults.expected_effect(n)) for n, run_id in enumerate(ids)})

    rescuers = second.worker_pids()
    moved = [e["at"] - ready_at for e in ledger.entries() if e["pid"] in rescuers and e["run"] in interrupted]
    # Their leases (2 s) ended while the second worker booted: its first reconciler pass moves them.
    assert moved and max(moved) < 10, f"an interrupted run moved again {max(moved):.1f}s after the rescuer booted"
    pays = ledger.executions("faults.pay")
    per_run = {run_id: sum(count for (run, _, _), count in pays.items() if run == run_id) for run_id in ids}
    assert {run_id for run_id, count in per_run.items() if count == 2} == interrupted
    assert max(per_run.values()) == 2
    for run_id in ids:
        keys = {e["key"] for e in ledger.entries("faults.pay") if e["run"] == run_id}
        assert len(keys) == 1, f"{run_id}: the idempotency key changed between executions: {keys}"
    effects = ledger.effects()
    assert len(effects) == RUNS, "each run's effect was applied once, whoever ran its step"
    # The interrupted runs whose effect the killed worker had applied found it there when
    # they ran again (a run killed before its effect applied it itself, once).
    key_of = {e["run"]: e["key"] for e in ledger.entries("faults.pay")}
    applied_by_the_dead = {run_id for run_id in interrupted if effects[key_of[run_id]]["pid"] in victims}
    deduplicated = {e["run"] for e in ledger.entries("faults.pay", "effect") if not e["applied"]}
    assert deduplicated == applied_by_the_dead and len(deduplicated) >= RUNS // 2 - 5


def test_sigterm_to_a_dramatiq_worker_finishes_the_current_steps_and_hands_the_runs_over(
    app_broker: tuple[str, str, dramatiq.Broker],
    client: flowgen.Engine,
    dramatiq_workers: DramatiqWorkers,
    redis_url: str,
    ledger: Ledger,
) -> None:
    kind, url, _ = app_broker
    step_seconds = 2.0
    first = dramatiq_workers.start(kind, url, redis_url, threads=8, fast=True)
    ids = start_runs(client, "faults.five_slow", "drain", [(n, step_seconds) for n in range(8)])
    wait_until(lambda: len(ledger.entries("faults.slow")) == 8, 60, "every run to be inside its first step")
    stopping = time.monotonic()
    assert first.stop(timeout=60) == 0, first.log()[-3000:]
    stopped_in = time.monotonic() - stopping
    assert stopped_in < 2 * step_seconds + 1, f"the graceful stop took {stopped_in:.1f}s (one more step ran?)"
    assert len(ledger.entries("faults.slow", "end")) == 8, "each step in progress finished"
    assert all(len(client.journal(run_id)) == 1 for run_id in ids), "each finished step was journaled"
    dramatiq_workers.start(kind, url, redis_url, threads=8, fast=True)
    wait_finished(redis_url, ids, 90)
    check_scenario(redis_url, {run_id: Expect.completed(n + 5) for n, run_id in enumerate(ids)})
    assert set(ledger.executions("faults.slow").values()) == {1}, "no step ran twice"


def attempt_statuses(journal: list[dict[str, Any]], name: str) -> list[str]:
    entry = next(entry for entry in journal if entry["name"] == name)
    return [attempt["status"] for attempt in entry["attempts"]]


def test_a_dramatiq_worker_killed_after_a_step_body_before_its_result_is_journaled_reruns_it_once(
    app_broker: tuple[str, str, dramatiq.Broker],
    client: flowgen.Engine,
    dramatiq_workers: DramatiqWorkers,
    redis_url: str,
    ledger: Ledger,
) -> None:
    kind, url, _ = app_broker
    ids = start_runs(client, "faults.effect", "body", [(n, 0) for n in range(RUNS)])
    # One thread: when the fault point kills the worker process, no other step body is in flight.
    crashing = dramatiq_workers.start(
        kind,
        url,
        redis_url,
        threads=1,
        fast=True,
        env={"FLOWGEN_FAULT": "after_step_body:faults.pay@5"},
        crashes=True,
    )
    # Dramatiq's main process sees its worker die and shuts down with a non-zero status.
    assert crashing.process.wait(60) != 0, crashing.log()[-3000:]
    ran = ledger.entries("faults.pay", "end")  # all by the crashed worker: no other one ran yet
    assert len(ran) == 5 and len({e["pid"] for e in ran}) == 1
    victim = ran[-1]
    record = client.store.get_run(victim["run"])
    assert record is not None and record.journal_length == 1, "the step's result was not journaled"

    dramatiq_workers.start(kind, url, redis_url, threads=8, fast=True)
    wait_finished(redis_url, ids, 90)
    journals = check_scenario(
        redis_url, {run_id: Expect.completed(faults.expected_effect(n)) for n, run_id in enumerate(ids)}
    )
    for (run_id, _, step), count in ledger.executions().items():
        expected = 2 if (run_id, step) == (victim["run"], "faults.pay") else 1
        assert count == expected, f"{run_id} {step} ran {count} times, expected {expected}"
    mine = [e for e in ledger.entries("faults.pay") if e["run"] == victim["run"]]
    assert {e["key"] for e in mine} == {victim["key"]}, "the re-run had the same idempotency key"
    assert attempt_statuses(journals[victim["run"]], "faults.pay") == ["crashed", "ok"]
    applied = [e for e in ledger.entries("faults.pay", "effect") if e["run"] == victim["run"] and e["applied"]]
    assert len(applied) == 1 and applied[0]["pid"] == victim["pid"], "the effect happened once, on the first run"
