"""A run without a flow document or branch records (marked ``plain``) costs Redis no look for them.

Every command a script issues costs Redis several thousand instructions, so ``acquire`` and the
finishing commit skip the ``GET`` of the flow document and the reads of the branch records of a
run created without limits and with no branch dispatched (``redis_flow.PLAIN_FIELD``). The mark
goes when either appears; those cases are the conformance tests
``test_flow_control.py::test_a_run_started_without_limits_gives_back_the_step_slot_it_took_when_it_ends``
and ``test_flow_branches.py::test_a_branch_that_started_at_once_gives_its_slot_back_when_its_run_ends``.
"""

from __future__ import annotations

import json

import pytest
import redis

from flowgen.status import RunStatus
from flowgen.stores.base import Finish, NewRun
from flowgen.stores.redis import RedisStore
from flowgen.stores.redis_flow import PLAIN_FIELD

from .support import ARGS, GRACE, T, change, started

pytestmark = pytest.mark.redis


def _calls(client: redis.Redis) -> dict[str, int]:
    return {name: int(stat["calls"]) for name, stat in client.info("commandstats").items()}


def test_a_plain_run_is_advanced_and_ended_without_reading_flow_or_branches(redis_url: str) -> None:
    store = RedisStore(redis_url, retention=60)
    client = redis.Redis.from_url(redis_url)
    try:
        client.config_resetstat()
        snapshot = started(store)
        assert client.hget("flowgen:{r1}:meta", PLAIN_FIELD) == b"1"
        assert store.commit(change(snapshot, Finish(RunStatus.COMPLETED)), T + 1, GRACE).ok
        calls = _calls(client)
        assert calls.get("cmdstat_evalsha", 0) + calls.get("cmdstat_eval", 0) >= 3  # create, acquire, commit
        # the flow document, the branches (acquire reads the metadata with HMGET), the inboxes
        for command in ("get", "hgetall", "hkeys", "smembers"):
            assert f"cmdstat_{command}" not in calls, command
    finally:
        store.close()


def test_a_run_created_with_a_flow_document_is_not_plain_and_is_read(redis_url: str) -> None:
    store = RedisStore(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        flow = json.dumps({"gates": [["run:k", 1, ""]]})
        assert store.create_run(NewRun("r1", "wf", ARGS, "fp", T, flow=flow), T, GRACE)[0]
        assert client.hget("flowgen:{r1}:meta", PLAIN_FIELD) == b"0"
        client.config_resetstat()
        snapshot = store.acquire("r1", "w1", 30.0, T)
        assert snapshot is not None and snapshot.flow is not None and snapshot.flow["in"] == 1
        assert "cmdstat_get" in _calls(client)
    finally:
        store.close()
