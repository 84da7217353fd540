"""The worker supervisor and the exit status of workers, with real processes (issue 13 item 13).

* SIGTERM to the supervisor while it waits to restart a crashed worker used to start the new
  worker anyway, after forwarding the signal to the others: the new one never got it, the
  supervisor never exited, and killing the supervisor left that worker consuming.
* A supervised worker whose supervisor is gone (SIGKILL) must stop too.
* A single-process worker whose step calls ``os._exit(0)`` used to exit with status 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import psutil
import pytest

import flowgen
from flowgen.worker import EXIT_UNEXPECTED, SUPERVISOR_ENV
from tests.conftest import WorkerProcess, wait_until
from tests.faults.support import Workers, children_of, exit_code

pytestmark = [pytest.mark.faults, pytest.mark.redis]


def _workers_of(supervisor_pid: int) -> list[psutil.Process]:
    """Every live process started by the supervisor ``supervisor_pid``, wherever it was re-parented."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(SUPERVISOR_ENV) == str(supervisor_pid):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _kill_all(pid: int) -> None:
    """Clean up after a failed test: kill the supervisor's workers and children, if any remain."""
    children = psutil.Process(pid).children(recursive=True) if psutil.pid_exists(pid) else []
    for process in [*_workers_of(pid), *children]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def test_sigterm_while_a_crashed_worker_waits_for_its_restart_stops_everything(
    redis_url: str, workers: Workers
) -> None:
    supervisor = workers.start(redis_url, processes=2, threads=2)
    try:
        first = children_of(supervisor)
        assert len(first) == 2
        first[0].kill()
        wait_until(
            lambda: "exited with -9; restarting it" in supervisor.log(), 30, "the supervisor to see the crash"
        )

        supervisor.process.send_signal(signal.SIGTERM)

        assert exit_code(supervisor, 30) == 1, "a worker had crashed: the supervisor does not report success"
        assert _workers_of(supervisor.pid) == [], "no worker outlives its supervisor"
        assert "started worker process 0" in supervisor.log()
        assert supervisor.log().count("started worker process") == 2, "the crashed worker was not restarted"
    finally:
        _kill_all(supervisor.pid)


def test_sigterm_to_the_supervisor_reaches_a_worker_it_has_just_restarted(
    redis_url: str, workers: Workers
) -> None:
    supervisor = workers.start(redis_url, processes=2, threads=2)
    try:
        children_of(supervisor)[0].kill()
        wait_until(
            lambda: supervisor.log().count("started worker process") == 3, 30, "the crashed worker's restart"
        )

        supervisor.process.send_signal(signal.SIGTERM)

        assert exit_code(supervisor, 60) == 0, "every worker running at the end stopped as told"
        assert _workers_of(supervisor.pid) == []
    finally:
        _kill_all(supervisor.pid)


def test_workers_stop_by_themselves_when_their_supervisor_is_killed(
    redis_url: str, workers: Workers, engine: flowgen.Engine
) -> None:
    supervisor = workers.start(redis_url, processes=2, threads=2)
    try:
        orphans = children_of(supervisor)
        assert len(orphans) == 2

        supervisor.process.send_signal(signal.SIGKILL)
        supervisor.process.wait(10)

        def all_gone() -> bool:
            return not _workers_of(supervisor.pid)

        wait_until(all_gone, 30, "the orphaned workers to stop")
        run = engine.start("faults.effect", 1, 0.0, run_id="after-the-supervisor")
        with pytest.raises(flowgen.ResultTimeoutError):
            run.result(timeout=3)  # nothing consumes any more
    finally:
        _kill_all(supervisor.pid)


def test_a_single_worker_whose_step_calls_os_exit_0_exits_non_zero(
    redis_url: str, workers: Workers, engine: flowgen.Engine
) -> None:
    worker: WorkerProcess = workers.start(redis_url, processes=1, threads=2)

    engine.start("faults.exits", run_id="exits")

    assert exit_code(worker, 60) == EXIT_UNEXPECTED
    assert "os._exit(0) was called while the worker ran" in worker.log()


def test_a_worker_asked_to_stop_still_exits_zero(redis_url: str, workers: Workers) -> None:
    worker = workers.start(redis_url, processes=1, threads=2)
    began = time.monotonic()

    assert worker.stop() == 0
    assert time.monotonic() - began < 30
    assert os.environ.get(SUPERVISOR_ENV) is None
