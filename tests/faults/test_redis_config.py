"""Workers report an unsafe Redis at start: no persistence, or an evicting maxmemory-policy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.support import RedisServer, Workers, exit_code

pytestmark = [pytest.mark.faults, pytest.mark.redis]


def test_a_worker_warns_about_a_redis_without_persistence_and_keeps_running(
    own_redis: Callable[..., RedisServer], workers: Workers
) -> None:
    server = own_redis(appendonly="no", save="")
    worker = workers.start(server.url, env={"FLOWGEN_UNSAFE_REDIS": "warn"})
    log = worker.log()
    assert "unsafe Redis configuration: Redis has no persistence" in log
    assert "set `appendonly yes`" in log
    assert "maxmemory-policy" not in log
    assert worker.process.poll() is None


def test_a_worker_refuses_an_unsafe_redis_when_asked_to(
    own_redis: Callable[..., RedisServer], workers: Workers
) -> None:
    server = own_redis(appendonly="yes", maxmemory_policy="allkeys-lru")
    worker = workers.start(server.url, args=("--unsafe-redis", "refuse"), ready=False)
    assert exit_code(worker) == 1
    log = worker.log()
    assert "ConfigurationError: refusing to start on an unsafe Redis" in log
    assert "maxmemory-policy is allkeys-lru" in log and "no persistence" not in log


def test_a_worker_says_nothing_about_a_safe_redis(
    own_redis: Callable[..., RedisServer], workers: Workers
) -> None:
    server = own_redis(appendonly="yes", appendfsync="always", maxmemory_policy="noeviction")
    worker = workers.start(server.url, args=("--unsafe-redis", "refuse"))
    assert "unsafe" not in worker.log().lower()
    assert worker.process.poll() is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"appendonly": "no", "save": "3600 1"}, "persists only RDB snapshots"),
        ({"appendonly": "yes", "appendfsync": "no"}, "appendfsync is no"),
    ],
)
def test_a_worker_warns_about_persistence_that_loses_acknowledged_writes(
    own_redis: Callable[..., RedisServer], workers: Workers, settings: dict, message: str
) -> None:
    server = own_redis(**settings)
    worker = workers.start(server.url, env={"FLOWGEN_UNSAFE_REDIS": "warn"})
    assert message in worker.log()
    assert worker.process.poll() is None
