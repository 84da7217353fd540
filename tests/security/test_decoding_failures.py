"""A value that cannot be decoded fails its run cleanly; data that looks tagged is just data.

Before, a client payload such as ``{"__flowgen__": "decimal", "v": "x"}`` raised an error the
runtime did not handle: the run stayed ``running`` and was retried every ``grace`` seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis

import flowgen
from tests.security import apps
from tests.security.conftest import failure, journal, push_event, run_key, set_entry, wait_status, wake

pytestmark = pytest.mark.redis

EngineFactory = Callable[..., flowgen.Engine]

WEBHOOK = {"__flowgen__": "decimal", "v": "x", "nested": [{"__flowgen__": "exception", "v": "boom"}]}


def test_a_payload_that_looks_tagged_reaches_the_workflow_unchanged(engine_on_redis: EngineFactory) -> None:
    engine = engine_on_redis()
    run = engine.start(apps.echo_event, run_id="webhook-body")
    wait_status(run, "waiting")
    run.send_event("webhook", WEBHOOK)
    assert run.result(timeout=15) == {"type": "dict", "payload": WEBHOOK}


def test_a_malformed_tagged_event_payload_in_the_store_fails_the_run_naming_the_position(
    engine_on_redis: EngineFactory, client: redis.Redis
) -> None:
    engine = engine_on_redis()
    run = engine.start(apps.echo_event, run_id="malformed-event")
    wait_status(run, "waiting")
    push_event(client, run.run_id, "webhook", '{"__flowgen__": "decimal", "v": "x"}', "evt-1")
    wake(engine, client, run.run_id)
    error = failure(run, timeout=15)
    assert isinstance(error, flowgen.SerializationError), repr(error)
    assert "position 0" in str(error)


@pytest.mark.parametrize(
    "value",
    [
        '{"__flowgen__": "timedelta", "v": "soon"}',
        '{"__flowgen__": "exception", "v": "boom"}',
        '{"__flowgen__": "enum", "v": 1, "cls": "tests.security.canary:Shade"}',
        "{not json",
    ],
)
def test_a_malformed_journal_value_fails_the_run_at_replay_naming_the_position(
    engine_on_redis: EngineFactory, client: redis.Redis, value: str
) -> None:
    engine = engine_on_redis()
    run = engine.start(apps.guarded, "o", run_id=f"malformed-{abs(hash(value))}")
    wait_status(run, "waiting")
    entry = journal(client, run.run_id)[1]
    set_entry(client, run.run_id, 1, dict(entry, value=value))
    run.send_event("go")
    error = failure(run, timeout=15)
    assert isinstance(error, flowgen.SerializationError), repr(error)
    assert "position 1" in str(error)
    assert apps.executions["charge"] == 0


def test_malformed_run_arguments_fail_the_run(engine_on_redis: EngineFactory, client: redis.Redis) -> None:
    engine = engine_on_redis()
    run = engine.start(apps.pay, "o", 1, run_id="malformed-args")
    wait_status(run, "waiting")
    client.hset(run_key(run.run_id, "meta"), "args", json.dumps({"positional": []}))
    run.send_event("go")
    error = failure(run, timeout=15)
    assert isinstance(error, flowgen.SerializationError), repr(error)
    assert "arguments" in str(error)


@pytest.mark.parametrize(
    "text", ["{not json", '{"pos": 1}', '["a", "list"]', '{"pos": 1, "kind": "step", "name": 5, "ok": "yes"}']
)
def test_a_journal_entry_that_is_not_an_entry_fails_the_run_naming_the_position(
    engine_on_redis: EngineFactory, client: redis.Redis, text: str
) -> None:
    """A Redis writer who replaces a whole entry (not only its value) does not leave the run stuck."""
    engine = engine_on_redis()
    run = engine.start(apps.guarded, "o", run_id=f"not-an-entry-{abs(hash(text))}")
    wait_status(run, "waiting")
    client.lset(run_key(run.run_id, "journal"), 1, text)
    run.send_event("go")
    error = failure(run, timeout=15)
    assert isinstance(error, flowgen.SerializationError), repr(error)
    assert "journal entry" in str(error) and "position 1" in str(error)
    assert apps.executions["charge"] == 0
