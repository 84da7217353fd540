"""Redis going away under running workers: killed and restarted, or unavailable for 20 seconds.

Each scenario starts its own redis-server on a free port (never the shared test server, never
port 6379); the steps' ledger stays on the shared server, which nothing here touches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

import flowgen
from tests.apps import faults
from tests.conftest import wait_until
from tests.faults.support import Expect, Ledger, RedisServer, Workers, check_scenario, wait_finished

pytestmark = [pytest.mark.faults, pytest.mark.redis]

RUNS = 200


class JournalWatcher(threading.Thread):
    """Read every run's journal over and over, remembering each entry Redis ever returned.

    With ``appendfsync always`` Redis writes and fsyncs the append-only file before it replies
    to anyone, so an entry a reader has seen is an acknowledged write: it must survive a kill.
    """

    def __init__(self, url: str, run_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url, socket_timeout=2)
        self.run_ids = run_ids
        self.seen: dict[str, list[bytes]] = {run_id: [] for run_id in run_ids}
        self.completed: set[str] = set()
        self.stop_event = threading.Event()
        self.reads = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                pipe = self.client.pipeline(transaction=False)
                for run_id in self.run_ids:
                    pipe.lrange(f"flowgen:{{{run_id}}}:journal", 0, -1)
                    pipe.hget(f"flowgen:{{{run_id}}}:meta", "status")
                replies = pipe.execute()
            except redis.RedisError:
                self.stop_event.wait(0.05)
                continue
            self.reads += 1
            for index, run_id in enumerate(self.run_ids):
                journal, status = replies[2 * index], replies[2 * index + 1]
                if len(journal) > len(self.seen[run_id]):
                    self.seen[run_id] = list(journal)
                if status == b"completed":
                    self.completed.add(run_id)
            self.stop_event.wait(0.02)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(10)
        self.client.close()


def test_redis_killed_and_restarted_with_fsync_always_loses_no_acknowledged_journal_entry(
    own_redis: Callable[..., RedisServer], redis_url: str, workers: Workers, ledger: Ledger
) -> None:
    server = own_redis(appendonly="yes", appendfsync="always")
    pool = [workers.start(server.url, threads=8), workers.start(server.url, threads=8)]
    with flowgen.Engine(server.url) as engine:
        ids = [f"aof-{n:03d}" for n in range(RUNS)]
        assert (
            engine.start_many(faults.durable, [((n,), None, run_id) for n, run_id in enumerate(ids)]).created
            == ids
        )
        watcher = JournalWatcher(server.url, ids)
        watcher.start()
        try:
            wait_until(lambda: len(watcher.completed) >= RUNS // 3, 120, "a third of the runs to complete")
            server.kill()
            seen_at_kill = sum(len(journal) for journal in watcher.seen.values())
            completed_at_kill = set(watcher.completed)
            time.sleep(1)  # the scenario itself: Redis stays dead for a second, workers keep trying
            server.start()
            wait_finished(server.url, ids, 120)
        finally:
            watcher.stop()
        check_scenario(
            server.url, {run_id: Expect.completed(faults.expected_durable(n)) for n, run_id in enumerate(ids)}
        )
        client = redis.Redis.from_url(server.url)
        lost = []
        for run_id, seen in watcher.seen.items():
            final = client.lrange(f"flowgen:{{{run_id}}}:journal", 0, -1)
            if final[: len(seen)] != seen:
                lost.append(run_id)
        client.close()
    assert not lost, f"acknowledged journal entries changed or vanished in {lost[:5]}"
    assert completed_at_kill < set(ids) and seen_at_kill > RUNS, "the kill hit runs in flight"
    assert all(worker.process.poll() is None for worker in pool), "the workers survived the restart"
    assert max(ledger.executions().values()) <= 2
    print(f"{seen_at_kill} journal entries seen before the kill, {len(completed_at_kill)} runs completed")


def test_redis_unavailable_for_20_seconds_workers_survive_and_due_timers_fire_within_5_seconds_of_its_return(
    own_redis: Callable[..., RedisServer], redis_url: str, workers: Workers, ledger: Ledger
) -> None:
    server = own_redis(appendonly="yes")
    pool = [workers.start(server.url, threads=8), workers.start(server.url, threads=8)]
    outage = 20.0
    with flowgen.Engine(server.url) as engine:
        began = time.time()
        sleepers = [f"nap-{n:03d}" for n in range(RUNS)]
        # Sleeps falling due 6 to 18 s after the start: all of them during the outage (the
        # 6 s leave a slow or busy machine time to park them all and start the busy runs).
        calls = [((n, 6 + 12 * n / RUNS), None, run_id) for n, run_id in enumerate(sleepers)]
        assert engine.start_many(faults.sleeper, calls).created == sleepers
        wait_until(
            lambda: engine.store.client.zcard("flowgen:timers") == RUNS,
            30,
            "every sleeper to park",  # type: ignore[attr-defined]
        )
        # A few runs are inside one-second steps when Redis goes away.
        busy = [f"busy-{n:03d}" for n in range(10)]
        assert (
            engine.start_many(
                faults.steps, [((n, 3, 1.0), None, run_id) for n, run_id in enumerate(busy)]
            ).created
            == busy
        )
        wait_until(lambda: len(ledger.entries("faults.slow")) >= 5, 30, "steps to be running")
        assert time.time() - began < 6, "the outage starts before any sleep is due"
        server.stop()
        down_at = time.time()
        time.sleep(outage)  # the scenario itself: Redis stays away this long
        server.start()
        back_at = time.time()
        wait_finished(server.url, sleepers + busy, 120)
        journals = check_scenario(
            server.url,
            {
                **{
                    run_id: Expect.completed_with(lambda out, n=n: out["n"] == (n + 1) * 10)
                    for n, run_id in enumerate(sleepers)
                },
                **{run_id: Expect.completed(n + 3) for n, run_id in enumerate(busy)},
            },
        )
    assert all(worker.process.poll() is None for worker in pool), "the workers survived the outage"
    late = {}
    for run_id in sleepers:
        due = next(entry for entry in journals[run_id] if entry["kind"] == "sleep")["info"]["due"]
        woke = next(entry for entry in journals[run_id] if entry["name"] == "now")["value"].timestamp()
        assert woke >= due
        assert down_at < due < back_at, "the timer fell due during the outage"
        late[run_id] = woke - back_at
    slowest = max(late.values())
    print(sorted(round(v, 2) for v in late.values())[::10])
    print(f"Redis down {back_at - down_at:.1f}s; due timers fired within {slowest:.2f}s of its return")
    assert slowest <= 5, f"a timer that fell due during the outage fired {slowest:.1f}s after Redis returned"
    assert max(ledger.executions().values()) <= 2


@pytest.mark.parametrize("comes_back", ["while_the_worker_releases_the_run", "after_the_worker_gave_up"])
def test_a_step_whose_result_could_not_be_written_during_an_outage_is_journaled_crashed_and_reruns_as_the_next_attempt(
    own_redis: Callable[..., RedisServer], redis_url: str, workers: Workers, ledger: Ledger, comes_back: str
) -> None:
    """docs/reliability.md: "A Redis outage counts as a crash for steps whose result could not be
    written". Each run is inside the first step of its advance (whose start is journaled only with
    its result) when Redis goes away for longer than the store's reconnect retries last. Redis
    comes back either while the worker is still retrying to give the run's lease back (so that
    release succeeds) or after it gave up on that too (the lease expires)."""
    server = own_redis(appendonly="yes")
    worker = workers.start(server.url, threads=8)
    busy = [f"cut-{n:02d}" for n in range(6)]
    with flowgen.Engine(server.url) as engine:
        assert (
            engine.start_many(
                faults.steps, [((n, 1, 2.0), None, run_id) for n, run_id in enumerate(busy)]
            ).created
            == busy
        )
        wait_until(lambda: len(ledger.entries("faults.slow")) == len(busy), 30, "every step to be running")
        server.stop()
        if comes_back == "after_the_worker_gave_up":
            time.sleep(14)  # the scenario itself: commits and releases fail while Redis is away
        else:
            wait_until(lambda: "advancing failed" in worker.log(), 30, "a commit to give up")
        server.start()
        wait_finished(server.url, busy, 120)
        journals = check_scenario(
            server.url, {run_id: Expect.completed(n + 1) for n, run_id in enumerate(busy)}
        )
    assert worker.process.poll() is None, "the worker survived the outage"
    reran = []
    for run_id in busy:
        ran = [item["attempt"] for item in ledger.entries("faults.slow") if item["run"] == run_id]
        statuses = [attempt["status"] for attempt in journals[run_id][0]["attempts"]]
        # A commit that got through once Redis was back journaled the step once; every other
        # step ran again, as the next attempt, after a crashed one.
        assert (ran, statuses) in [([1], ["ok"]), ([1, 2], ["crashed", "ok"])], (
            f"{run_id}: ran {ran}, journaled {statuses}"
        )
        if len(ran) == 2:
            reran.append(run_id)
    assert reran, "the outage made some step's commit fail"
