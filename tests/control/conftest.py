"""One harness over three engines: the testing runner, Redis with real worker threads, SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import flowgen
from flowgen.testing import Runner
from tests.apps import control
from tests.conftest import wait_until


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


@pytest.fixture(params=["runner", "redis", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Env]:
    control.reset()
    if request.param == "runner":
        with Runner() as runner:
            yield RunnerEnv(runner)
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
        with flowgen.Engine(url, timer_interval=0.05) as engine, engine.worker(threads=8):
            environment = Env(engine)
            environment.kind = "redis"
            yield environment
    else:
        with flowgen.Engine(f"sqlite:///{tmp_path}/runs.db", timer_interval=0.05) as engine:
            environment = Env(engine)
            environment.kind = "sqlite"
            yield environment
    control.reset()
