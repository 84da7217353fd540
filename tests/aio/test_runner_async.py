"""The testing Runner runs async steps: mocks, calls, virtual time (which asyncio.sleep does not follow)."""

from __future__ import annotations

import asyncio
import time

import pytest

import flowgen
from flowgen.testing import Runner, call
from tests.apps import async_apps as apps


def test_virtual_time_moves_flowgen_sleep_but_asyncio_sleep_takes_real_time() -> None:
    with Runner() as runner:
        run = runner.start(apps.sleep_then_nap, 24, 0.2)
        started = time.monotonic()
        runner.advance("24 hours")  # the durable sleep passes at once...
        assert run.result() == "1"
        assert time.monotonic() - started >= 0.2  # ...the step's own asyncio.sleep(0.2) does not


def test_an_async_step_can_be_mocked_with_a_value_or_an_error() -> None:
    with Runner() as runner:
        runner.mock(apps.async_increment, returns=100)
        assert runner.start(apps.mixed, 3).result() == 200
        assert runner.calls(apps.async_increment) == [call(apps.async_increment, 6)]
        runner.mock(apps.nap, raises=TimeoutError("upstream timed out"))
        failed = runner.start(apps.one_nap, 1.0)
        with pytest.raises(flowgen.WorkflowFailedError) as caught:
            failed.result()
        assert isinstance(caught.value.__cause__, TimeoutError)  # the step's own error, not a timeout


def test_an_async_side_effect_is_awaited() -> None:
    async def answer(x: int) -> int:
        await asyncio.sleep(0)
        return x * 10

    with Runner() as runner:
        runner.mock(apps.async_increment, side_effect=answer)
        assert runner.start(apps.mixed, 1).result() == 40


@pytest.mark.asyncio
async def test_the_runner_works_from_an_async_test() -> None:
    """Called from a running event loop, the Runner still runs async steps (on the step loop)."""
    with Runner() as runner:
        assert runner.start(apps.mixed, 1).result() == 6
