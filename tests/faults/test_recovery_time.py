"""How fast a killed worker's runs move again: the bound docs/reliability.md states, measured.

Real ``flowgen worker`` processes on a real redis-server, killed with SIGKILL while their runs
are inside a step. A run a worker was advancing has its lease, not a message in the queue, so
it must be recovered once its lease ends (within ``lease_ttl`` + ``reconcile_interval``, plus
the moment it takes to send and take a message), whatever its ready score says (the runs here
are started by a client with the default 15 s grace) and however far behind the queue is.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest
import redis
from dramatiq.message import Message

import flowgen
from tests.apps import faults
from tests.conftest import wait_until
from tests.faults.support import Expect, Ledger, Workers, check_scenario, start_runs, wait_finished

pytestmark = [pytest.mark.faults, pytest.mark.redis]

LEASE_TTL = 2.0
RECONCILE_INTERVAL = 2.0  # the default
SETTINGS = ["--lease-ttl", str(LEASE_TTL), "--grace", "2"]
TAKE_OVER = 2.0
"""Allowed on top of ``lease_ttl + reconcile_interval``: sending the message and a free worker
taking the run (a few milliseconds when idle; this leaves room for a loaded test machine)."""
BOUND = LEASE_TTL + RECONCILE_INTERVAL + TAKE_OVER
QUEUE = "flowgen-dramatiq:flowgen"


def inside_the_stall(ledger: Ledger, pid: int, run_ids: Iterable[str]) -> bool:
    """Every one of ``run_ids`` has started its ``faults.stall`` step in process ``pid``."""
    inside = {entry["run"] for entry in ledger.entries("faults.stall") if entry["pid"] == pid}
    return set(run_ids) <= inside


def expected(run_ids: Iterable[str], n: int | None = None) -> dict[str, Expect]:
    return {
        run_id: Expect.completed(faults.expected_stalled(index if n is None else n))
        for index, run_id in enumerate(run_ids)
    }


def test_a_killed_workers_runs_move_again_within_lease_ttl_and_a_reconcile_interval(
    redis_url: str, engine: flowgen.Engine, workers: Workers, ledger: Ledger
) -> None:
    doomed = workers.start(redis_url, threads=20, args=SETTINGS)
    ids = start_runs(engine, "faults.stalled", "killed", [(n, 60.0) for n in range(20)])
    wait_until(lambda: inside_the_stall(ledger, doomed.pid, ids), 30, "every run to be inside its step")
    survivor = workers.start(redis_url, threads=20, args=SETTINGS)

    doomed.kill()
    killed_at = time.time()
    wait_finished(redis_url, ids, 60)

    again = {}
    for entry in ledger.entries("faults.stall"):
        if entry["pid"] == survivor.pid:
            again[entry["run"]] = min(again.get(entry["run"], entry["at"]), entry["at"])
    assert set(again) == set(ids), "the survivor ran every interrupted step again"
    slowest = max(again[run_id] - killed_at for run_id in ids)
    print(f"20 runs of a killed worker moved again within {slowest:.2f}s (bound {BOUND:.0f}s)")
    assert slowest <= BOUND, f"a run moved again {slowest:.1f}s after the kill (bound {BOUND:.0f}s)"
    journals = check_scenario(redis_url, expected(ids))
    for run_id in ids:
        stall = next(entry for entry in journals[run_id] if entry["name"] == "faults.stall")
        assert [attempt["status"] for attempt in stall["attempts"]] == ["crashed", "ok"]


def _new_messages_for(client: redis.Redis, run_ids: set[str], known: set[bytes]) -> set[str]:
    """The runs among ``run_ids`` with a message waiting in the queue that is not in ``known``."""
    waiting = [message_id for message_id in client.lrange(QUEUE, 0, -1) if message_id not in known]
    if not waiting:
        return set()
    bodies = client.hmget(f"{QUEUE}.msgs", waiting)
    return {Message.decode(body).args[0] for body in bodies if body} & run_ids


def test_a_killed_workers_runs_are_sent_again_when_their_leases_end_even_behind_a_backlog(
    redis_url: str, engine: flowgen.Engine, workers: Workers, ledger: Ledger
) -> None:
    # Every worker thread is busy and fetches nothing more (prefetch = threads), so messages
    # pile up in the queue: the reconciler then leaves alone the runs queued behind its oldest
    # message. The killed worker's runs are not in the queue, they were leased.
    doomed = workers.start(redis_url, threads=5, args=[*SETTINGS, "--prefetch", "5"])
    victims = start_runs(engine, "faults.stalled", "victim", [(n, 60.0) for n in range(5)])
    wait_until(
        lambda: inside_the_stall(ledger, doomed.pid, victims), 30, "the victims to be inside their step"
    )
    busy = workers.start(redis_url, threads=1, args=[*SETTINGS, "--prefetch", "1"])
    blocker = start_runs(engine, "faults.stalled", "blocker", [(100, 60.0)])
    wait_until(lambda: inside_the_stall(ledger, busy.pid, blocker), 30, "the blocker to be inside its step")
    backlog = start_runs(engine, "faults.stalled", "queued", [(n, 0.0) for n in range(20)])
    minimum_backlog = 2 * BOUND
    wait_until(lambda: engine.transport.backlog() >= minimum_backlog, 60, "the queue to fall behind")

    client = redis.Redis.from_url(redis_url)
    known = set(client.hkeys(f"{QUEUE}.msgs"))  # every message sent so far, fetched or not
    doomed.kill()
    killed_at = time.monotonic()
    sent_again: dict[str, float] = {}
    while len(sent_again) < len(victims) and time.monotonic() - killed_at < 3 * BOUND:
        for run_id in _new_messages_for(client, set(victims) - set(sent_again), known):
            sent_again[run_id] = time.monotonic() - killed_at
        time.sleep(0.05)
    behind = engine.transport.backlog()
    print(
        f"killed worker's runs sent again after {sorted(sent_again.values())} s, queue {behind:.1f} s behind"
    )
    assert set(sent_again) == set(victims), (
        f"only {sorted(sent_again)} were sent again within {3 * BOUND:.0f}s"
    )
    assert behind >= minimum_backlog, "the queue was still behind: the scenario measured what it says"
    assert max(sent_again.values()) <= BOUND, (
        f"a run was sent again {max(sent_again.values()):.1f}s after the kill (bound {BOUND:.0f}s)"
    )

    # Let everything finish: a fresh worker takes the queue, and the blocker's worker is
    # killed too (its step would stall for a minute; run again, it returns at once).
    workers.start(redis_url, threads=30, args=SETTINGS)
    busy.kill()
    wait_finished(redis_url, [*victims, *blocker, *backlog], 60)
    client.close()
    check_scenario(redis_url, {**expected(victims), **expected(blocker, 100), **expected(backlog)})


REQUEUE_BOUND = max(LEASE_TTL, 3.0) + 0.5 + 3.0
"""A dead worker's fetched messages: its heartbeat must be ``max(lease_ttl, 3 s)`` old, the
requeuer looks every 0.5 s, plus a generous take-over (sending, fetching, a loaded machine).
Far below the 15 s grace of the client that started the runs, which bounded it before."""


def test_messages_a_killed_worker_had_fetched_move_again_within_lease_ttl_not_the_grace(
    redis_url: str, engine: flowgen.Engine, workers: Workers, ledger: Ledger
) -> None:
    # Both threads busy inside a step, and a prefetch of 8: the next runs' messages are fetched
    # by the doomed worker but no thread starts them. They hold no lease, and the client that
    # started them has the default 15 s grace, so only their requeue moves them in time.
    doomed = workers.start(redis_url, threads=2, args=[*SETTINGS, "--prefetch", "8"])
    holders = start_runs(engine, "faults.stalled", "holder", [(n, 60.0) for n in range(2)])
    wait_until(lambda: inside_the_stall(ledger, doomed.pid, holders), 30, "both threads to be busy")
    client = redis.Redis.from_url(redis_url)
    fetched = start_runs(engine, "faults.stalled", "fetched", [(n, 0.0) for n in range(2)])
    wait_until(lambda: not _new_messages_for(client, set(fetched), set()), 30, "the doomed worker to fetch them")
    assert not {e["run"] for e in ledger.entries()} & set(fetched), "no thread was free to start them"
    survivor = workers.start(redis_url, threads=8, args=SETTINGS)

    doomed.kill()
    killed_at = time.time()
    wait_finished(redis_url, [*holders, *fetched], 60)
    client.close()

    moved = {}
    for entry in ledger.entries():
        if entry["run"] in fetched and entry["pid"] == survivor.pid:
            moved[entry["run"]] = min(moved.get(entry["run"], entry["at"]), entry["at"])
    assert set(moved) == set(fetched), "the survivor ran the fetched runs"
    slowest = max(at - killed_at for at in moved.values())
    print(f"runs a killed worker had fetched moved again within {slowest:.2f}s (bound {REQUEUE_BOUND:.1f}s)")
    assert slowest <= REQUEUE_BOUND, f"a fetched run moved again {slowest:.1f}s after the kill"
    check_scenario(redis_url, {**expected(holders), **expected(fetched)})
