"""The Redis password never leaks: not in logs, errors, nor any worker's command line (issue 12 item 5).

Every user of a machine can read every process's command line (``ps``, ``/proc/<pid>/cmdline``),
so a supervisor hands the URL to its workers in their environment; URLs in logs and errors are
masked (``redis://:***@host``). The tests run real ``flowgen worker`` processes against a real
redis-server started with ``requirepass``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

import flowgen
from tests.conftest import HEARTBEATS, ROOT, wait_until
from tests.faults.support import RedisServer

pytestmark = [pytest.mark.redis]

PASSWORD = "Sw0rdfish-not-for-your-eyes"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own that asks for ``PASSWORD``."""
    own = RedisServer(tmp_path / "redis", {"requirepass": PASSWORD})
    own.start()
    yield own
    own.stop()


def _start_worker(
    tmp_path: Path, server: RedisServer, *, url_in_argv: bool, processes: int, ledger: str
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "worker.log"
    environment = {key: value for key, value in os.environ.items() if key != "FLOWGEN_URL"}
    environment.update(FLOWGEN_UNSAFE_REDIS="ignore", FLOWGEN_TEST_LEDGER_URL=ledger)
    command = [sys.executable, "-m", "flowgen", "worker", "tests.apps.faults", "--processes", str(processes)]
    if url_in_argv:
        command += ["--url", server.url]
    else:
        environment["FLOWGEN_URL"] = server.url
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment, cwd=ROOT)
    client = redis.Redis.from_url(server.url)

    def consuming() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        return int(client.zcard(HEARTBEATS)) >= processes

    wait_until(consuming, 60, "the worker processes to consume")
    client.close()
    return process, log


def _command_line(process: psutil.Process) -> str:
    return Path(f"/proc/{process.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait(10)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_password_given_in_flowgen_url_is_in_no_command_line_and_no_log(
    tmp_path: Path, server: RedisServer, redis_url: str, processes: int
) -> None:
    supervisor, log = _start_worker(
        tmp_path, server, url_in_argv=False, processes=processes, ledger=redis_url
    )
    try:
        everyone = [psutil.Process(supervisor.pid), *psutil.Process(supervisor.pid).children(recursive=True)]
        assert len(everyone) == processes + (1 if processes > 1 else 0)
        for process in everyone:
            assert PASSWORD not in _command_line(process), f"pid {process.pid}: {_command_line(process)}"

        with flowgen.Engine(server.url) as engine:
            assert engine.start("faults.effect", 1, 0.0, run_id="works").result(timeout=60) is not None
    finally:
        _stop(supervisor)
    text = log.read_text()
    assert PASSWORD not in text
    assert f"url redis://:***@127.0.0.1:{server.port}/0" in text, text[-3000:]


def test_a_password_given_with_url_reaches_no_worker_command_line(
    tmp_path: Path, server: RedisServer, redis_url: str
) -> None:
    supervisor, log = _start_worker(tmp_path, server, url_in_argv=True, processes=2, ledger=redis_url)
    try:
        children = psutil.Process(supervisor.pid).children(recursive=True)
        assert len(children) == 2
        for child in children:
            assert PASSWORD not in _command_line(child), f"pid {child.pid}: {_command_line(child)}"
    finally:
        _stop(supervisor)
    assert PASSWORD not in log.read_text()


def test_a_malformed_url_error_masks_the_password() -> None:
    with pytest.raises(flowgen.ConfigurationError) as caught:
        flowgen.Engine(f"redis://:{PASSWORD}@localhost:notaport/0")

    assert PASSWORD not in str(caught.value)
    assert "redis://:***@localhost:notaport/0" in str(caught.value)


def test_a_wrong_password_is_a_store_unavailable_error_without_the_password(server: RedisServer) -> None:
    with (
        flowgen.Engine(f"redis://:wrong-{PASSWORD}@127.0.0.1:{server.port}/0", start_workers=False) as engine,
        pytest.raises(flowgen.StoreUnavailableError) as caught,
    ):
        engine.runs()

    assert PASSWORD not in str(caught.value)
    assert f"Redis at 127.0.0.1:{server.port}/0 is unreachable" in str(caught.value)
