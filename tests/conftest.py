"""Shared fixtures: a real Redis server for the tests, started on a free port.

Set ``FLOWGEN_TEST_REDIS_URL`` to use an existing server instead (its database is flushed
before every test that uses it, so never point it at data you care about).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psutil
import pytest
import redis
from pytest_redis import factories

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flowgen_redis_proc = factories.redis_proc(
    executable=shutil.which("redis-server") or "/usr/bin/redis-server", port=None
)


@pytest.fixture(scope="session")
def redis_server_url(request: pytest.FixtureRequest) -> str:
    """The URL of the test Redis server (started once per session unless the env names one)."""
    url = os.environ.get("FLOWGEN_TEST_REDIS_URL")
    if url:
        return url
    proc = request.getfixturevalue("flowgen_redis_proc")
    return f"redis://{proc.host}:{proc.port}/0"


@pytest.fixture
def redis_url(redis_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis URL whose database is empty at the start of the test.

    Steps of the test apps (tests/apps) record their executions there too, in worker
    processes and in in-process workers alike.
    """
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    monkeypatch.setenv("FLOWGEN_TEST_LEDGER_URL", redis_server_url)
    yield redis_server_url


class WorkerProcess:
    """A real ``flowgen worker`` subprocess (see :func:`start_worker`)."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: str) -> None:
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as file:
            return file.read()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the worker and wait for it to exit; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL the worker (and, with several processes, its children) at once."""
        if self.process.poll() is None:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
            self.process.kill()
            self.process.wait(10)


def wait_until(condition: Callable[[], Any], timeout: float, message: str, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def start_worker(tmp_path: Any, redis_url: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker processes on the test Redis; they are stopped after the test."""
    started: list[WorkerProcess] = []

    def start(
        *modules: str,
        processes: int = 1,
        threads: int = 4,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        ready: bool = True,
    ) -> WorkerProcess:
        log_path = str(tmp_path / f"worker-{len(started)}.log")
        environment = {
            **os.environ,
            "FLOWGEN_TEST_LEDGER_URL": redis_url,
            "FLOWGEN_UNSAFE_REDIS": "ignore",
            **(env or {}),
        }
        command = [
            sys.executable,
            "-m",
            "flowgen",
            "worker",
            *modules,
            "--url",
            redis_url,
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            *args,
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=ROOT
            )
        worker = WorkerProcess(process, log_path)
        started.append(worker)
        if ready:
            client = redis.Redis.from_url(redis_url)
            before = client.zcard("flowgen-dramatiq:__heartbeats__")

            def is_ready() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"worker exited with {process.returncode}:\n{worker.log()}")
                return client.zcard("flowgen-dramatiq:__heartbeats__") >= before + processes

            wait_until(is_ready, 30, "the worker to start consuming")
            client.close()
        return worker

    yield start
    for worker in started:
        worker.stop()
