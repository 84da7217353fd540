"""A rate limit under concurrent workers never records more than ``count`` starts in a window.

16 threads, each a "worker" with its own store handle and leased run, take starts of one rate
limit as fast as it lets them. Each reads its clock, then reaches the store a random moment
later (so requests arrive out of clock order, as from real workers), and sleeps until the time
it is told when refused. Every start the store records is collected (each thread reads its own
records right after each grant, long before they leave the window), and any ``count + 1``
consecutive recorded starts must be at least ``per * RATE_MARGIN`` apart: the guarantee of
``flowgen/stores/flow_rates.py``, in memory, SQLite and a real Redis.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
import redis

from flowgen.stores.base import NewRun, Store
from flowgen.stores.flow_rates import RATE_MARGIN
from flowgen.stores.redis import RedisStore

from .conftest import OpenStore
from .support import ARGS, GRACE

COUNT, PER, SECONDS, THREADS = 40, 2.0, 5.0, 16
GATE = "rate:conc"


def _recorded(store: Store, client: redis.Redis | None, run_id: str) -> dict[str, float]:
    """The starts recorded for ``run_id`` still in the window (member ``<run id>@<unique>``)."""
    if client is not None:
        assert isinstance(store, RedisStore)
        # the window is in the prefix's keys on a single Redis, in the limit's shard on a cluster
        base = store.prefix if store.shards.count == 0 else store.step_limit_base(GATE)
        if store.shards.count == 1:
            base = store.shards.bases[0]
        pairs = [(m.decode(), s) for m, s in client.zrange(f"{base}:fc:rate:{GATE}", 0, -1, withscores=True)]
    else:
        with store._read() as tx:  # type: ignore[attr-defined]
            pairs = tx.zhead(f"rate:{GATE}", 1_000_000)
    return {member: score for member, score in pairs if member.startswith(f"{run_id}@")}


def _worker(
    store: Store, client: redis.Redis | None, index: int, out: dict[str, float], grants: list[int]
) -> None:
    run_id = f"r{index}"
    now = time.time()
    assert store.create_run(NewRun(run_id, "wf", ARGS, "fp", now), now, GRACE)[0]
    snapshot = store.acquire(run_id, "w", 3600.0, now)
    assert snapshot is not None
    rng = random.Random(index)
    gates = [["rate", GATE, COUNT, PER]]
    end = time.time() + SECONDS
    while time.time() < end:
        clock = time.time()
        time.sleep(rng.uniform(0, 0.005))  # the request reaches the store a moment after its clock reading
        retry = store.take_step(run_id, snapshot.epoch, gates, clock, clock + 3600.0)
        if retry is None:
            grants[index] += 1
            out.update(_recorded(store, client, run_id))
        else:
            time.sleep(max(0.0, retry - time.time()))  # parked until its token (the workload)


@pytest.mark.limits
def test_concurrent_workers_never_record_more_than_count_starts_in_a_window(
    store_kind: str, open_store: OpenStore
) -> None:
    stores = [open_store() for _ in range(THREADS)]
    clients = [
        (s.client if s.cluster else redis.Redis(connection_pool=s.client.connection_pool))
        if isinstance(s, RedisStore)
        else None
        for s in stores
    ]
    outs: list[dict[str, float]] = [{} for _ in range(THREADS)]
    grants = [0] * THREADS
    threads = [
        threading.Thread(target=_worker, args=(stores[i], clients[i], i, outs[i], grants))
        for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 60)
        assert not thread.is_alive()
    starts = sorted(score for out in outs for score in out.values())
    assert len(starts) == sum(grants), "every grant is recorded once"
    assert len(starts) >= 2 * COUNT, f"only {len(starts)} starts in {SECONDS:g} s"
    span = PER * RATE_MARGIN
    closest = min(later - earlier for earlier, later in zip(starts, starts[COUNT:], strict=False))
    assert closest >= span - 1e-6, f"{COUNT + 1} recorded starts within {closest:.6f} s (< {span:g} s)"
