"""The ``store`` fixture: every conformance test runs once per store implementation.

``memory`` and ``sqlite`` need nothing; ``redis`` uses the session's test Redis server (see
``tests/conftest.py``), flushed before each test; ``cluster`` the session's local Redis Cluster
(``tests/redis_cluster.py``: 3 masters, 3 replicas), through a ``redis+cluster://`` URL. A store is built by :func:`open_store` so
tests that need a second handle on the same data (another "process") can open one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowgen.cluster_urls import cluster_client
from flowgen.stores.base import Store
from flowgen.stores.memory import MemoryStore
from flowgen.stores.redis import RedisStore
from flowgen.stores.sqlite import SQLiteStore

STORES = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("cluster", id="cluster", marks=[pytest.mark.redis, pytest.mark.redis_cluster]),
    pytest.param("sqlite", id="sqlite"),
]

OpenStore = Callable[..., Store]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The name of the store implementation under test."""
    return str(request.param)


@pytest.fixture
def open_store(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """A factory of store handles on one shared backend (one Redis db, one SQLite file).

    For ``memory`` every call returns the same instance: it cannot be shared otherwise.
    Keyword arguments (``retention``) go to the store's constructor.
    """
    opened: list[Store] = []
    memory: list[MemoryStore] = []
    redis_url = request.getfixturevalue("redis_url") if store_kind == "redis" else None
    cluster_url = request.getfixturevalue("redis_cluster_url") if store_kind == "cluster" else None

    def make(**options: Any) -> Store:
        store: Store
        if store_kind == "memory":
            if not memory:
                memory.append(MemoryStore())
            return memory[0]
        if store_kind == "redis":
            store = RedisStore(redis_url, **options)
        elif store_kind == "cluster":
            assert cluster_url is not None
            if request.node.get_closest_marker("one_slot"):
                # run limits (their runs share one slot, and these tests name runs freely) and step
                # limits on branches: one shard puts every run there (test_cluster_limits.py
                # places runs of a run limit over many shards)
                options.setdefault("shards", 1)
            store = RedisStore(client=cluster_client(cluster_url), **options)
        else:
            store = SQLiteStore(tmp_path / "flowgen.db", **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    """A fresh, empty store of the kind under test."""
    return open_store()
