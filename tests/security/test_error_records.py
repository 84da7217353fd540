"""Error records are bounded and stored once; event types and ids are limited in length.

Before, a step raising a 4 MB message with two retries stored over 200 MB: the message,
arguments, traceback and cause were copied into every attempt, the final error and the
wrapping error.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis

import flowgen
from flowgen.serialization import (
    ERROR_MESSAGE_LIMIT,
    ERROR_TRACEBACK_LIMIT,
    Serializer,
    error_record,
    rebuild_error,
)
from tests.security import apps
from tests.security.conftest import failure, journal, meta_key, run_key, wait_status

EngineFactory = Callable[..., flowgen.Engine]
FOUR_MB = 4 * 1024 * 1024


def run_keys_bytes(client: redis.Redis, run_id: str) -> int:
    return sum(
        int(client.memory_usage(key, samples=0) or 0) for key in client.scan_iter(run_key(run_id, "*"))
    )


@pytest.mark.redis
def test_a_4mb_error_message_with_retries_stores_a_bounded_record(
    engine_on_redis: EngineFactory, client: redis.Redis
) -> None:
    engine = engine_on_redis()
    run = engine.start(apps.loud_failure, FOUR_MB, run_id="loud-failure")
    error = failure(run, timeout=60)
    # The workflow received the step's own error (issue 13 item 1), stamped with its attempts.
    assert isinstance(error, ValueError), repr(error)
    assert error.flowgen_attempts == 3
    assert apps.executions["shout"] == 3
    stored = run_keys_bytes(client, run.run_id)
    print(f"a failed run whose step raised {FOUR_MB} characters three times takes {stored} bytes in Redis")
    assert stored < 256 * 1024, f"the failed run takes {stored} bytes in Redis"
    record = json.loads(client.hget(meta_key(run.run_id), "error"))
    assert len(record["message"]) <= ERROR_MESSAGE_LIMIT + 200
    assert "truncated" in record["message"]
    entry = journal(client, run.run_id)[0]
    attempts = entry["attempts"]
    assert len(attempts) == 3
    assert all(len(json.dumps(attempt)) < 2048 for attempt in attempts), "attempts keep a summary"


def test_messages_and_tracebacks_are_truncated_with_a_marker() -> None:
    try:
        raise ValueError("m" * (ERROR_MESSAGE_LIMIT * 3))
    except ValueError as error:
        record = error_record(error, "t" * (ERROR_TRACEBACK_LIMIT * 3))
    assert len(record["message"]) < ERROR_MESSAGE_LIMIT + 200
    assert "truncated" in record["message"] and str(ERROR_MESSAGE_LIMIT * 3) in record["message"]
    assert len(record["traceback"]) < ERROR_TRACEBACK_LIMIT + 200 and "truncated" in record["traceback"]
    assert len(json.dumps(record["args"])) < ERROR_MESSAGE_LIMIT + 400


def test_error_records_fit_the_payload_limit() -> None:
    serializer = Serializer(max_payload_bytes=4096)
    try:
        try:
            raise KeyError("k" * 5000)
        except KeyError as inner:
            raise RuntimeError("r" * 5000) from inner
    except RuntimeError as error:
        record = serializer.error_record(error, run_id="r", slot="g0/0")
    assert len(json.dumps(record)) <= 4096
    assert record["type"] == "builtins:RuntimeError"


@flowgen.register_type
class Wrapped(Exception):
    """An error that carries its cause among its arguments (as wrapping errors often do)."""

    def __init__(self, step: str, last: BaseException) -> None:
        super().__init__(step, last)
        self.__cause__ = last

    def __str__(self) -> str:
        return f"step {self.args[0]!r} failed: {type(self.args[1]).__name__}"


def test_a_wrapped_error_is_stored_once() -> None:
    text = "v" * 5000
    try:
        raise ValueError(text)
    except ValueError as error:
        last = error
    record = error_record(Wrapped("s", last), "")
    # The cause's own record holds its text (message, args, traceback); the wrapper refers to
    # it (``cause_at``) instead of copying it into its arguments.
    assert json.dumps(record["cause"]).count(text) == 3
    assert json.dumps({k: v for k, v in record.items() if k != "cause"}).count("v" * 300) == 0
    assert record["cause_at"] == [1]
    rebuilt = rebuild_error(json.loads(json.dumps(record)))
    assert isinstance(rebuilt, Wrapped)
    assert rebuilt.args[1] is rebuilt.__cause__ and str(rebuilt.__cause__) == text


@pytest.mark.parametrize("field", ["type", "event_id"])
def test_event_types_and_ids_over_the_limit_are_refused_at_send_event(field: str) -> None:
    with flowgen.Engine("memory://") as engine:
        run = engine.start(apps.echo_event, run_id="long-event")
        wait_status(run, "waiting")
        huge = "e" * (4 * 1024 * 1024)
        options = {"type": huge} if field == "type" else {"type": "webhook", "event_id": huge}
        with pytest.raises(flowgen.FlowgenError) as caught:
            engine.send_event(run.run_id, options.pop("type"), {"a": 1}, **options)
        message = str(caught.value)
        assert "characters" in message and len(message) < 1000
