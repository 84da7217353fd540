"""The pickle serializer end to end: every kind of value slot decodes under its own signature."""

from __future__ import annotations

import pytest

import flowgen
from flowgen.testing import Runner
from tests.apps import control

SECRET = "a-test-secret-of-32-characters!!"


def drive(run: flowgen.Run, send: object) -> None:
    run.wait_for_status("waiting", timeout=30)
    run.send_event("opaque", send)


def test_pickled_values_in_every_slot_with_the_runner() -> None:
    control.reset()
    with Runner(serializer="pickle", secret_key=SECRET) as runner:
        run = runner.start(control.everything_pickled)
        run.send_event("opaque", control.Opaque(6))
        assert run.result() == [1, 2, [3, 4, 5], 6]


@pytest.mark.redis
def test_pickled_values_in_every_slot_on_redis(redis_url: str) -> None:
    control.reset()
    with (
        flowgen.Engine(redis_url, serializer="pickle", secret_key=SECRET) as engine,
        engine.worker(threads=8),
    ):
        run = engine.start(control.everything_pickled)
        drive(run, control.Opaque(6))
        assert run.result(timeout=30) == [1, 2, [3, 4, 5], 6]
        # Readers without the key cannot decode any of it.
        with flowgen.Engine(redis_url) as keyless, pytest.raises(flowgen.TamperedDataError):
            keyless.get(run.run_id).result(timeout=1)
