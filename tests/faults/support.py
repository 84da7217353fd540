"""Helpers of the fault suite: Redis servers a test owns, worker processes, the ledger, the checks.

Every scenario ends with :func:`check_scenario`, the one shared verdict: every run finished as
expected, every journal is contiguous (positions ``0..n-1``, no gap, no duplicate, the same
length as the run's ``jlen``), and nothing is stuck (no run unfinished, in the ready, timer or
lease index, or holding a lease).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import port_for
import psutil
import pytest
import redis

import flowgen
from flowgen.urls import open_store
from tests.apps.faults_common import EFFECTS, LEDGER
from tests.conftest import WorkerProcess, wait_until
from tests.conftest import Workers as BaseWorkers

FAST = ["--lease-ttl", "2", "--grace", "2", "--reconcile-interval", "0.5"]
"""Worker settings that make recovery quick: a dead worker's runs move again within ~3 s."""

REDIS_SERVER = "/usr/bin/redis-server"


def redis_server_binary() -> str:
    import shutil

    return shutil.which("redis-server") or REDIS_SERVER


# -- Redis servers a test owns -------------------------------------------------------------------


class RedisServer:
    """A redis-server process on a free port, owned by one test (killed, paused, restarted).

    Data lives in ``directory``; ``config`` are extra ``--name value`` settings (e.g.
    ``appendonly yes``). :meth:`start` can be called again after :meth:`kill` or :meth:`stop`
    to bring the same server back on the same port with the same data.
    """

    def __init__(self, directory: Path, config: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port_for.select_random()
        self.config = {"save": "", "appendonly": "no", **(config or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def password(self) -> str | None:
        """The ``requirepass`` the server was configured with, if any."""
        return self.config.get("requirepass")

    @property
    def url(self) -> str:
        credentials = f":{self.password}@" if self.password else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> None:
        command = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
        ]
        command += [
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        for name, value in self.config.items():
            command += [f"--{name}", value]
        self.starts += 1
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=1, password=self.password)

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"redis-server exited with {self.process.returncode}: {self.log()[-2000:]}")
            try:
                return bool(client.ping()) and client.info("persistence").get("loading") == 0
            except redis.RedisError:
                return False

        wait_until(answers, timeout, f"redis-server on port {self.port} to answer")
        client.close()

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the server: no shutdown, nothing flushed beyond what it already wrote."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Stop the server gracefully (it persists per its configuration first)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


# -- worker processes ----------------------------------------------------------------------------


class Workers(BaseWorkers):
    """:class:`tests.conftest.Workers` with the fault suite's defaults: its app, 8 threads, short leases."""

    def start(
        self,
        url: str,
        *modules: str,
        processes: int = 1,
        threads: int = 8,
        env: dict[str, str] | None = None,
        args: Sequence[str] = FAST,
        ready: bool = True,
    ) -> WorkerProcess:
        return super().start(
            url,
            *(modules or ("tests.apps.faults",)),
            processes=processes,
            threads=threads,
            env=env,
            args=args,
            ready=ready,
        )


def exit_code(worker: WorkerProcess, timeout: float = 60) -> int:
    """Wait for a worker to exit (a fault point kills it) and return its exit code."""
    try:
        return worker.process.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not exit within {timeout}s:\n{worker.log()[-5000:]}")


def children_of(worker: WorkerProcess) -> list[psutil.Process]:
    return psutil.Process(worker.pid).children(recursive=True)


def start_runs(engine: flowgen.Engine, workflow: str, prefix: str | None, calls: list[tuple]) -> list[str]:
    """Start one run per argument tuple, ids ``<prefix>-000``... (``None``: flowgen's ids), in one batch."""
    ids = [f"{prefix}-{i:03d}" if prefix else None for i in range(len(calls))]
    result = engine.start_many(
        workflow, [(args, None, run_id) for args, run_id in zip(calls, ids, strict=True)]
    )
    if prefix:
        assert result.created == ids
    assert len(result.created) == len(calls)
    return list(result.created)


# -- the ledger ----------------------------------------------------------------------------------


class Ledger:
    """Read what the steps of tests/apps/faults_common.py recorded."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def entries(self, step: str | None = None, phase: str | None = "start") -> list[dict[str, Any]]:
        items = [json.loads(raw) for raw in self.client.lrange(LEDGER, 0, -1)]
        return [
            item
            for item in items
            if (step is None or item["step"] == step) and (phase is None or item["phase"] == phase)
        ]

    def executions(self, step: str | None = None) -> Counter[tuple[str, str, str]]:
        """How many times each step body started, by ``(run id, position, step)``."""
        return Counter((item["run"], item["pos"], item["step"]) for item in self.entries(step))

    def effects(self) -> dict[str, dict[str, Any]]:
        return {key.decode(): json.loads(value) for key, value in self.client.hgetall(EFFECTS).items()}

    def close(self) -> None:
        self.client.close()


# -- the verdict ---------------------------------------------------------------------------------


@attrs.frozen
class Expect:
    """What a run must have ended with: ``completed`` with ``value``, or ``failed`` with ``error``."""

    status: str
    value: Any = None
    error: str | None = None
    message: str | None = None
    check: Callable[[Any], bool] | None = None

    @classmethod
    def completed(cls, value: Any) -> Expect:
        return cls("completed", value)

    @classmethod
    def completed_with(cls, check: Callable[[Any], bool]) -> Expect:
        """Completed with a result for which ``check`` is true."""
        return cls("completed", check=check)

    @classmethod
    def failed(cls, error: type[BaseException], message: str | None = None) -> Expect:
        return cls("failed", error=f"{error.__module__}.{error.__qualname__}", message=message)


def wait_finished(
    url: str, run_ids: Iterable[str], timeout: float, what: str = "every run to finish"
) -> float:
    """Poll until every run has finished; return how long it took (fail after ``timeout``)."""
    store = open_store(url, retention=None, prefix="flowgen")  # a redis:// or a redis+cluster:// URL
    pending = set(run_ids)
    began = time.monotonic()
    try:
        while pending:
            for run_id in list(pending):
                record = store.get_run(run_id)
                if record is not None and record.is_finished:
                    pending.discard(run_id)
            if not pending:
                break
            if time.monotonic() - began > timeout:
                sample = sorted(pending)[:5]
                states = {run_id: getattr(store.get_run(run_id), "status", None) for run_id in sample}
                pytest.fail(
                    f"timed out after {timeout}s waiting for {what}: {len(pending)} left, e.g. {states}"
                )
            time.sleep(0.1)
    finally:
        store.close()
    return time.monotonic() - began


def check_scenario(
    url: str, expected: dict[str, Expect], *, serializer: str = "json", secret_key: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Assert the shared verdict of every scenario (see the module docstring); return the journals.

    Every run in the store is checked for contiguity and for being at rest, not only the
    expected ones (child runs count too).
    """
    options: dict[str, Any] = {"serializer": serializer}
    if secret_key:
        options["secret_key"] = secret_key
    engine = flowgen.Engine(url, **options)
    store = engine.store
    client = store.client  # type: ignore[attr-defined]
    journals: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    try:
        all_ids = [raw.decode() for raw in client.zrange("flowgen:runs", 0, -1)]
        missing = sorted(set(expected) - set(all_ids))
        assert not missing, f"{len(missing)} expected runs do not exist: {missing[:5]}"
        for run_id in all_ids:
            record = store.get_run(run_id)
            assert record is not None, f"run {run_id} is listed but has no record"
            entries = store.read_journal(run_id)
            positions = [entry.position for entry in entries]
            if positions != list(range(len(entries))):
                problems.append(f"{run_id}: journal positions {positions} are not 0..{len(entries) - 1}")
            if record.journal_length != len(entries):
                problems.append(f"{run_id}: jlen {record.journal_length} but {len(entries)} journal entries")
            if not record.is_finished:
                problems.append(f"{run_id}: still {record.status} (stuck)")
            if record.owner or record.lease_until:
                problems.append(f"{run_id}: still leased by {record.owner!r} until {record.lease_until}")
            journals[run_id] = engine.journal(run_id)
            want = expected.get(run_id)
            if want is None:
                continue
            if record.status != want.status:
                error = record.error or {}
                problems.append(
                    f"{run_id}: {record.status}, expected {want.status} "
                    f"({error.get('type')}: {str(error.get('message'))[:300]})"
                )
                continue
            if want.status == "completed":
                output = engine.output_of(record)
                if want.check is not None:
                    if not want.check(output):
                        problems.append(f"{run_id}: unexpected result {output!r}")
                elif output != want.value:
                    problems.append(f"{run_id}: result {output!r}, expected {want.value!r}")
            elif want.error is not None:
                error = record.error or {}
                type_name = str(error.get("type", "")).replace(":", ".")
                if type_name != want.error:
                    problems.append(f"{run_id}: failed with {type_name}, expected {want.error}")
                if want.message is not None and want.message not in str(error.get("message", "")):
                    problems.append(
                        f"{run_id}: error message {error.get('message')!r} lacks {want.message!r}"
                    )
        ready = [raw.decode() for raw in client.zrange("flowgen:ready", 0, -1)]
        if ready:
            problems.append(f"{len(ready)} runs left in the ready index: {ready[:5]}")
        timers = [raw.decode() for raw in client.zrange("flowgen:timers", 0, -1)]
        if timers:
            problems.append(f"{len(timers)} runs left in the timer index: {timers[:5]}")
        leases = [raw.decode() for raw in client.zrange("flowgen:leases", 0, -1)]
        if leases:
            problems.append(f"{len(leases)} runs left in the lease index: {leases[:5]}")
        for status in ("queued", "running", "waiting", "paused", "compensating"):
            count = client.zcard(f"flowgen:status:{status}")
            if count:
                problems.append(f"{count} runs indexed as {status}")
    finally:
        engine.close()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    return journals


def queue_drained(url: str) -> Callable[[], bool]:
    """A condition: the Dramatiq queue is empty and no worker holds an unacknowledged message."""
    client = redis.Redis.from_url(url)

    def drained() -> bool:
        if client.llen("flowgen-dramatiq:flowgen"):
            return False
        acks = client.keys("flowgen-dramatiq:__acks__.*")
        return not any(client.scard(key) for key in acks)

    return drained
