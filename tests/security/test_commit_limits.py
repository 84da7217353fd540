"""Commits the store refuses, and commits too large for one Lua ``unpack``, on a real Redis.

Before, about 8,000 journal entries decided in one advance could never be committed
(``RPUSH ... unpack(append)`` fails in Lua), and a refused commit was retried forever.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

import flowgen
from tests.security import apps
from tests.security.conftest import failure

pytestmark = [pytest.mark.redis, pytest.mark.slow]

EngineFactory = Callable[..., flowgen.Engine]


def test_8100_uuid4_values_decided_in_one_advance_are_committed(engine_on_redis: EngineFactory) -> None:
    engine = engine_on_redis()
    run = engine.start(apps.many_uuids, 8100, run_id="many-uuids")
    assert run.result(timeout=60) == [8100, 8100, True]
    assert run.status().journal_length == 8100


def test_an_endless_clock_loop_ends_at_the_journal_limit(engine_on_redis: EngineFactory) -> None:
    engine = engine_on_redis()
    run = engine.start(apps.endless_clock, run_id="endless-clock")
    error = failure(run, timeout=60)
    assert isinstance(error, flowgen.JournalLimitError), repr(error)
    assert run.status().journal_length == 10000


@pytest.fixture
def journal_denied_url(redis_url: str, client: redis.Redis) -> Iterator[str]:
    """A Redis user that may write everything flowgen writes except journals."""
    name = f"nojournal-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    client.acl_setuser(
        name,
        enabled=True,
        passwords=[f"+{password}"],
        categories=["+@all"],
        keys=[
            "flowgen:{*}:meta",
            "flowgen:{*}:inbox*",
            "flowgen:{*}:branches",
            "flowgen:{*}:done",
            "flowgen:{*}:seen",
            "flowgen:{*}:children",
            "flowgen:{*}:history",
            "flowgen:{*}:flow",
            "flowgen:[^{]*",
            "flowgen-dramatiq*",
            "%R~flowgen:{*}:journal",
        ],
    )
    host_port = redis_url.split("//", 1)[1]
    yield f"redis://{name}:{password}@{host_port}"
    client.acl_deluser(name)


def test_a_commit_redis_refuses_fails_the_run_instead_of_being_retried_forever(
    engine_on_redis: EngineFactory, journal_denied_url: str, redis_url: str
) -> None:
    with flowgen.Engine(redis_url) as starter:
        run_id = starter.start(apps.one_value, run_id="refused-commit").run_id
    denied = flowgen.Engine(journal_denied_url, lease_ttl=2.0, grace=1.0, reconcile_interval=0.3)
    try:
        with denied.worker(threads=2):
            error = failure(denied.get(run_id), timeout=20)
    finally:
        denied.close()
    assert isinstance(error, flowgen.FlowgenError), repr(error)
    assert "refused" in str(error) and "position 0" in str(error)
