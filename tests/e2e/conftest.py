"""The end-to-end tests run twice: on the single test Redis and on the local Redis Cluster.

``redis_url`` here is the engine URL under test: the session's test server (``redis``) or the
session's 3-master cluster (``cluster``, a ``redis+cluster://`` URL; see
``tests/redis_cluster.py``). Steps of the test apps keep their ledger on the single server in
both cases. Tests reach Redis through :func:`tests.redis_urls.redis_client` and name the
broker's keys with :func:`tests.redis_urls.broker_key`, which know both kinds of URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def single_redis_url(redis_server_url: str) -> str:
    """The single test server, emptied: for tests that choose their stores themselves."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    return redis_server_url


@pytest.fixture(
    params=[
        pytest.param("redis", id="redis"),
        pytest.param("cluster", id="cluster", marks=pytest.mark.redis_cluster),
    ]
)
def redis_url(
    request: pytest.FixtureRequest, redis_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The engine URL under test, its data emptied first; the ledger URL is the single server."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    monkeypatch.setenv("FLOWGEN_TEST_LEDGER_URL", redis_server_url)
    if request.param == "cluster":
        yield str(request.getfixturevalue("redis_cluster_url"))
    else:
        yield redis_server_url
