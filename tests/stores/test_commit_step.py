"""``commit_step``: ``commit.lua`` without its rare parts, for the commits of a step boundary.

It links a handful of library functions instead of all that parking, branches and a run's end
use (every one a new closure at every call); the store picks it when every operation of a
commit is one of ``redis_scripts.STEP_KINDS``, and it refuses any other kind before writing.
"""

from __future__ import annotations

import re

import pytest
import redis

from flowgen.status import RunStatus
from flowgen.stores.base import Finish, StartAttempt
from flowgen.stores.redis import RedisStore
from flowgen.stores.redis_scripts import STEP_KINDS, script_text

from .support import GRACE, T, append, change, entry, open_entry, started

pytestmark = pytest.mark.redis


def test_commit_step_knows_only_the_step_kinds_and_links_none_of_the_end() -> None:
    text = script_text("commit_step")
    assert set(re.findall(r"kind == '(\w+)' then arity", text)) == STEP_KINDS
    assert "-- [rare" not in text and "end_run" not in text and "flow_released" not in text


def test_commit_step_refuses_an_operation_of_the_whole_script_before_writing(redis_url: str) -> None:
    store = RedisStore(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        snapshot = started(store)
        args = ["flowgen", "r1", str(snapshot.epoch), "0", str(T), str(T + GRACE)]
        args += ["append", "1", entry(0).to_json(), "finish", "completed", "", "", "", ""]
        with pytest.raises(redis.ResponseError, match="unknown commit operation finish"):
            client.eval(store._scripts["commit_step"].script, 0, *args)
        assert store.load("r1", offset=0).journal == []
    finally:
        store.close()


def test_a_run_advanced_by_step_commits_and_a_whole_commit_ends_as_before(redis_url: str) -> None:
    store = RedisStore(redis_url)
    try:
        snapshot = started(store)
        step = change(snapshot, append(entry(0)), StartAttempt(open_entry(1)))
        assert store.commit(step, T + 1, GRACE).ok
        end = change(snapshot, append(entry(1)), Finish(RunStatus.COMPLETED), position=1)
        assert store.commit(end, T + 2, GRACE).ok
        loaded = store.load("r1", offset=0)
        assert [e.position for e in loaded.journal] == [0, 1]
        assert loaded.run.status is RunStatus.COMPLETED and loaded.open is None
    finally:
        store.close()

