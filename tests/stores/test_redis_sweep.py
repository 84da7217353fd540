"""The Redis retention sweep never drops the index entries of a run whose keys still exist.

The sweep item of a finished run falls due at ``now + retention`` by the worker's clock, while
the run's keys expire ``retention`` seconds after Redis ran the finishing script: a sweep at
the boundary can find the keys still there. It must look again later rather than forget the
run (which would leave it in ``runs``/``status`` indexes forever, as the benchmark found).
"""

from __future__ import annotations

import time

import pytest
import redis

from flowgen.status import RunStatus
from flowgen.stores.base import Finish
from flowgen.stores.redis import RedisStore

from .support import GRACE, change, started

pytestmark = pytest.mark.redis


def _listed(store: RedisStore) -> list[str]:
    return [record.run_id for record in store.list_runs()]


def test_redis_sweep_looks_again_at_a_run_whose_keys_have_not_expired_yet(redis_url: str) -> None:
    store = RedisStore(redis_url, retention=60)
    client = redis.Redis.from_url(redis_url)
    try:
        snapshot = started(store, "done")
        now = time.time()
        assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED)), now, GRACE).ok

        # The item is due by the worker's clock, but the keys still live (as at the boundary).
        assert store.sweep(now + 60, 1000) == 1
        assert _listed(store) == ["done"]
        assert client.zcard("flowgen:expiring") == 1
        score = client.zrange("flowgen:expiring", 0, 0, withscores=True)[0][1]
        assert score > now + 60 - 1

        # Once the keys are gone, the next sweep removes the run from every index.
        client.delete("flowgen:{done}:meta", "flowgen:{done}:journal", "flowgen:{done}:done")
        assert store.sweep(now + 10**6, 1000) == 1
        assert _listed(store) == []
        assert store.list_runs(status=RunStatus.COMPLETED) == []
        assert client.zcard("flowgen:expiring") == 0
    finally:
        client.close()
        store.close()


def test_redis_sweep_forgets_the_expiry_of_a_run_kept_again(redis_url: str) -> None:
    store = RedisStore(redis_url, retention=60)
    client = redis.Redis.from_url(redis_url)
    try:
        snapshot = started(store, "kept")
        now = time.time()
        assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED)), now, GRACE).ok
        client.persist("flowgen:{kept}:meta")  # what a reset or retry does

        assert store.sweep(now + 10**6, 1000) == 1
        assert client.zcard("flowgen:expiring") == 0
        assert _listed(store) == ["kept"]
    finally:
        client.close()
        store.close()


def test_redis_terminated_run_expires_and_is_swept_like_a_finished_one(redis_url: str) -> None:
    # A run ended by terminate (cancel(force=True)) is as finished as one its workflow ended:
    # SQLite deletes both after the retention; Redis must expire both and sweep both.
    store = RedisStore(redis_url, retention=60)
    client = redis.Redis.from_url(redis_url)
    try:
        started(store, "killed")
        now = time.time()
        store.control("killed", "terminate", now, GRACE)

        assert 0 < client.ttl("flowgen:{killed}:meta") <= 60
        assert 0 < client.ttl("flowgen:{killed}:done") <= 60
        assert client.zcard("flowgen:expiring") == 1

        client.delete("flowgen:{killed}:meta", "flowgen:{killed}:done")  # as their TTL would
        assert store.sweep(now + 10**6, 1000) == 1
        assert _listed(store) == []
        assert store.list_runs(status=RunStatus.CANCELLED) == []
    finally:
        client.close()
        store.close()
