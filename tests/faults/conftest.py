"""Fixtures of the fault suite: worker processes on any Redis, Redis servers a test owns, the ledger.

Every module here sets ``pytestmark = [pytest.mark.faults, ...]``, so ``pytest -m "not faults"``
skips the suite locally; CI runs it (``.ci/run`` runs plain ``pytest``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flowgen
from tests.faults.support import Ledger, RedisServer, Workers


@pytest.fixture
def workers(tmp_path: Path, redis_url: str) -> Iterator[Workers]:
    """Start ``flowgen worker`` processes; the steps' ledger is on the shared test Redis."""
    started = Workers(tmp_path, redis_url)
    yield started
    started.stop_all()


@pytest.fixture
def ledger(redis_url: str) -> Iterator[Ledger]:
    book = Ledger(redis_url)
    yield book
    book.close()


@pytest.fixture
def engine(redis_url: str) -> Iterator[flowgen.Engine]:
    with flowgen.Engine(redis_url) as client:
        yield client


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start redis-servers this test owns (free ports, data in the test's directory)."""
    servers: list[RedisServer] = []

    def start(**config: Any) -> RedisServer:
        server = RedisServer(
            tmp_path / f"redis-{len(servers)}", {k.replace("_", "-"): str(v) for k, v in config.items()}
        )
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
