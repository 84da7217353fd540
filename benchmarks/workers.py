"""Start and stop the worker processes a measurement needs, and read their memory.

Both sides run as real processes started from their own command lines, as users run them:
``dramatiq benchmarks.raw_app --processes N --threads M`` for the baseline and
``flowgen worker benchmarks.apps --processes N --threads M`` for flowgen.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import psutil
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WorkerGroup:
    """A supervisor process and its worker children (see :func:`start_raw` / :func:`start_flowgen`)."""

    def __init__(
        self,
        kind: str,
        command: list[str],
        env: dict[str, str],
        processes: int,
        heartbeats_key: str,
        client: redis.Redis,
    ) -> None:
        self.kind = kind
        self.command = command
        self.processes = processes
        self.heartbeats_key = heartbeats_key
        self.client = client
        self.log = tempfile.NamedTemporaryFile(prefix=f"flowgen-bench-{kind}-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def log_text(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as file:
            return file.read()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.kind} workers exited with {self.process.returncode}:\n{self.log_text()[-4000:]}"
            )

    def workers(self) -> list[psutil.Process]:
        """The processes that run actors (the supervisor's descendants that are Python workers)."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [child for child in children if child.is_running()]

    def worker_pids(self) -> list[int]:
        return [process.pid for process in self.leaf_workers()]

    def leaf_workers(self) -> list[psutil.Process]:
        """Worker processes that have no children of their own (dramatiq forks a fork-server)."""
        workers = self.workers()
        if not workers:
            return [psutil.Process(self.process.pid)] if self.process.poll() is None else []
        return [w for w in workers if not any(c.is_running() for c in _children(w))]

    def rss(self) -> list[int]:
        """Resident memory of each worker process, in bytes."""
        sizes = []
        for worker in self.leaf_workers():
            try:
                sizes.append(int(worker.memory_info().rss))
            except psutil.NoSuchProcess:
                continue
        return sizes

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every worker process has fetched from its queue once (its heartbeat exists)."""
        deadline = time.monotonic() + timeout
        while self.client.zcard(self.heartbeats_key) < self.processes:
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.kind} workers did not start within {timeout}s:\n{self.log_text()[-4000:]}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the group (graceful on both sides) and wait; SIGKILL what is left after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                for child in self.workers():
                    child.kill()
                self.process.kill()
                self.process.wait(10)
        for child in self.workers():
            child.kill()
        self.log.close()
        os.unlink(self.log.name)


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return list(process.children())
    except psutil.NoSuchProcess:
        return []


PYCACHE = os.path.join(tempfile.gettempdir(), "flowgen-bench-pycache")
"""Where the started processes keep their bytecode, whatever ``PYTHONDONTWRITEBYTECODE`` says.

A deployed worker imports cached bytecode; a process that compiles every module at start-up
(``PYTHONDONTWRITEBYTECODE=1``, set on the machines these benchmarks run on) spends about half
its restart compiling, which the recovery figures would otherwise count as flowgen's. A
private prefix keeps the checkout free of ``__pycache__`` directories.
"""


def worker_env(url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the processes the benchmark starts: this checkout first on the path.

    Bytecode is cached under :data:`PYCACHE`, as a deployment's would be.
    """
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "FLOWGEN_BENCH_REDIS_URL": url, "FLOWGEN_UNSAFE_REDIS": "ignore", "PYTHONPATH": path}
    env.pop("dramatiq_queue_prefetch", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return {**env, **(extra or {})}


def start_raw(
    url: str, client: redis.Redis, processes: int, threads: int, prefetch: int | None = None
) -> WorkerGroup:
    """Start raw Dramatiq workers (``dramatiq benchmarks.raw_app``)."""
    from .raw_app import NAMESPACE

    client.delete(f"{NAMESPACE}:__heartbeats__")
    extra = {"dramatiq_queue_prefetch": str(prefetch)} if prefetch else {}
    command = [
        sys.executable,
        "-m",
        "dramatiq",
        "benchmarks.raw_app",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--queues",
        "bench",
    ]
    return WorkerGroup(
        "dramatiq", command, worker_env(url, extra), processes, f"{NAMESPACE}:__heartbeats__", client
    )


def start_flowgen(
    url: str,
    client: redis.Redis,
    processes: int,
    threads: int,
    args: Sequence[str] = (),
    prefetch: int | None = None,
    env: dict[str, str] | None = None,
    module: str = "benchmarks.apps",
) -> WorkerGroup:
    """Start flowgen workers (``flowgen worker benchmarks.apps``, or ``module``, with ``env`` added)."""
    client.delete("flowgen-dramatiq:__heartbeats__")
    extra = {"dramatiq_queue_prefetch": str(prefetch)} if prefetch else {}
    extra.update(env or {})
    command = [
        sys.executable,
        "-m",
        "flowgen",
        "worker",
        module,
        "--url",
        url,
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--log-level",
        "WARNING",
        *args,
    ]
    return WorkerGroup(
        "flowgen", command, worker_env(url, extra), processes, "flowgen-dramatiq:__heartbeats__", client
    )
