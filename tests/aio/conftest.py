"""Engines for the asyncio tests: the testing Runner (memory store), SQLite, Redis with worker threads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowgen
from flowgen.testing import Runner
from tests.apps import async_apps
from tests.engine_kinds import KINDS, engine_of_kind


class Env:
    """Start runs and get their results the same way on every kind of engine."""

    kind = ""
    concurrent = True
    """Whether async steps of this engine run on the step loop concurrently (not the Runner)."""

    def __init__(self, engine: flowgen.Engine) -> None:
        self.engine = engine

    def start(self, workflow: Any, *args: Any) -> flowgen.Run:
        return self.engine.start(workflow, *args)

    def result(self, run: flowgen.Run) -> Any:
        return run.result(timeout=60)

    def retry_after_backoff(self) -> None:
        """Let the (zero) retry back-off timers fire (only the runner is told)."""


class RunnerEnv(Env):
    kind = "runner"
    concurrent = False

    def __init__(self, runner: Runner) -> None:
        super().__init__(runner.engine)
        self.runner = runner

    def start(self, workflow: Any, *args: Any) -> flowgen.Run:
        return self.runner.start(workflow, *args)

    def result(self, run: flowgen.Run) -> Any:
        for _ in range(5):
            self.runner.advance(1)
        return self.runner.get(run.run_id).result()


@pytest.fixture(params=KINDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    async_apps.reset()
    with engine_of_kind(request.param, request, tmp_path, threads=2) as made:
        environment = RunnerEnv(made) if isinstance(made, Runner) else Env(made)
        environment.kind = request.param
        yield environment
