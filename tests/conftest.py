"""Shared fixtures: a real Redis server for the tests, started on a free port.

Set ``FLOWGEN_TEST_REDIS_URL`` to use an existing server instead (its database is flushed
before every test that uses it, so never point it at data you care about).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from pytest_redis import factories

from tests.redis_urls import broker_key, redis_client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEARTBEATS = "flowgen-dramatiq:__heartbeats__"  # Dramatiq's sorted set of live worker processes

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


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local Redis Cluster (tests/redis_cluster.py) for the session; ``FLOWGEN_TEST_CLUSTER_URL``
    names an existing one instead (it is flushed before each test: never point it at data)."""
    from tests.redis_cluster import LocalCluster

    cluster = LocalCluster(tmp_path_factory.mktemp("redis-cluster"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster: Any) -> str:
    """The engine URL of the session's local cluster, emptied before the test."""
    redis_cluster.flush()
    return str(redis_cluster.url)


class WorkerProcess:
    """A real ``flowgen worker`` subprocess (see :func:`start_worker`)."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: str) -> None:
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """What it wrote so far (``""`` before it wrote anything)."""
        path = Path(self.log_path)
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the worker (a graceful stop) and wait; SIGKILL it after ``timeout``; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
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


class Workers:
    """Start real ``flowgen worker`` processes on any Redis URL; :meth:`stop_all` stops them.

    Steps of the test apps write their ledger to ``ledger_url``; each worker logs to a file in
    ``directory``. :meth:`start` returns once the new processes consume (their Dramatiq
    heartbeats appear), unless ``ready=False``.
    """

    def __init__(self, directory: Path, ledger_url: str) -> None:
        self.directory = directory
        self.ledger_url = ledger_url
        self.started: list[WorkerProcess] = []

    def start(
        self,
        url: str,
        *modules: str,
        processes: int = 1,
        threads: int = 4,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        ready: bool = True,
    ) -> WorkerProcess:
        log_path = str(self.directory / f"worker-{len(self.started)}.log")
        environment = {
            **os.environ,
            "FLOWGEN_TEST_LEDGER_URL": self.ledger_url,
            "FLOWGEN_UNSAFE_REDIS": "ignore",
            **(env or {}),
        }
        command = [sys.executable, "-m", "flowgen", "worker", *modules, "--url", url]
        command += ["--processes", str(processes), "--threads", str(threads), *args]
        client = redis_client(url)
        heartbeats = broker_key(url, "__heartbeats__")
        before = set(client.zrange(heartbeats, 0, -1))
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=ROOT
            )
        worker = WorkerProcess(process, log_path)
        self.started.append(worker)
        if ready:

            def consuming() -> bool:
                # Heartbeats first: a worker started with a fault point may consume, crash as
                # told and exit between two polls, and it did start consuming.
                if len(set(client.zrange(heartbeats, 0, -1)) - before) >= processes:
                    return True
                if process.poll() is not None:
                    pytest.fail(f"worker exited with {process.returncode}:\n{worker.log()[-5000:]}")
                return False

            wait_until(consuming, 60, "the worker to start consuming")
        client.close()
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGCONT)  # a test may have frozen it
            worker.stop(timeout=20)


@pytest.fixture
def start_worker(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker processes on the test Redis: ``start_worker(*modules, **options)``."""
    # the steps' ledger stays on the single test server (never on a cluster a test may break)
    workers = Workers(tmp_path, os.environ.get("FLOWGEN_TEST_LEDGER_URL", redis_url))
    yield functools.partial(workers.start, redis_url)
    workers.stop_all()
