"""One harness over three engines: the testing runner, Redis with real worker threads, SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowgen
from flowgen.testing import Runner
from tests.apps import control
from tests.conftest import wait_until
from tests.engine_kinds import KINDS, engine_of_kind


class Env:
    """What a control test needs from an engine, the same way on every kind."""

    kind = ""

    def __init__(self, engine: flowgen.Engine) -> None:
        self.engine = engine

    def start(self, workflow: Any, *args: Any, **kwargs: Any) -> flowgen.Run:
        return self.engine.start(workflow, *args, **kwargs)

    def settle(self, run: flowgen.Run, *statuses: str) -> flowgen.RunInfo:
        return run.wait_for_status(*statuses, timeout=30)

    def result(self, run: flowgen.Run) -> Any:
        return run.result(timeout=30)

    def failure(self, run: flowgen.Run) -> BaseException:
        with pytest.raises(flowgen.WorkflowFailedError) as caught:
            self.result(run)
        return caught.value

    def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` of (real or virtual) time pass."""
        until = time.time() + seconds
        wait_until(lambda: time.time() >= until, seconds + 5, f"{seconds}s to pass")

    def drain(self) -> None:
        """Let queued work happen (only the runner needs to be told)."""


class RunnerEnv(Env):
    kind = "runner"

    def __init__(self, runner: Runner) -> None:
        super().__init__(runner.engine)
        self.runner = runner

    def start(self, workflow: Any, *args: Any, **kwargs: Any) -> flowgen.Run:
        return self.runner.start(workflow, *args, **kwargs)

    def settle(self, run: flowgen.Run, *statuses: str) -> flowgen.RunInfo:
        self.runner.run_until_idle()
        return self.runner.get(run.run_id).wait_for_status(*statuses)

    def result(self, run: flowgen.Run) -> Any:
        self.runner.run_until_idle()
        return self.runner.get(run.run_id).result()

    def pass_time(self, seconds: float) -> None:
        self.runner.advance(seconds)

    def drain(self) -> None:
        self.runner.run_until_idle()


@pytest.fixture(params=KINDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    control.reset()
    with engine_of_kind(request.param, request, tmp_path, threads=8) as made:
        environment = RunnerEnv(made) if isinstance(made, Runner) else Env(made)
        environment.kind = request.param
        yield environment
    control.reset()
