"""Every resume under the runner replays the journal, so non-deterministic workflows fail in tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

import flowgen
from flowgen.testing import Runner
from tests.apps import runner_apps as apps

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _reset_counter() -> Iterator[None]:
    global _counter
    _counter = itertools.count()
    yield


@flowgen.workflow(name="testing.nondeterministic")
def nondeterministic(pause: str):
    """Branch on process state (a counter), which replay cannot reproduce: a bug on purpose."""
    if next(_counter) % 2 == 0:
        yield apps.notify("sms", "hello")
    else:
        yield apps.reserve("sku", 1)
    yield flowgen.sleep(pause)
    return "done"


def test_non_deterministic_workflow_fails_on_resume(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(nondeterministic, "30s")

    flowgen_runner.advance("30s")

    with pytest.raises(flowgen.WorkflowFailedError) as failed:
        run.result()
    error = failed.value.__cause__
    assert isinstance(error, flowgen.NonDeterminismError)
    assert error.position == 0
    assert error.recorded == "step 'testing.notify'"
    assert error.new == "step 'testing.reserve'"


def test_replay_false_keeps_parked_generators_like_a_worker_cache() -> None:
    with Runner(replay=False) as runner:
        run = runner.start(nondeterministic, "30s")

        runner.advance("30s")

        assert run.result() == "done", "the live generator resumed without replay, hiding the bug"
