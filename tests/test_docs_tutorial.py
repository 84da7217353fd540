"""Run docs/tutorial.md as a newcomer would, so the page stays true.

The page's files (each ``python`` block preceded by ``File `NAME`:``) are written to a fresh
directory; then its commands run there: the pytest command on the test file, the SQLite script
(twice: the second run must find the finished run and run no step again), and the Redis section's
``flowgen`` commands against the tests' own redis-server (the page's
``redis://localhost:6379/0`` replaced by its URL), with the page's ``flowgen worker`` line as a
real background worker process.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"
FILE_BLOCK = re.compile(r"^File `(?P<name>[^`]+)`:\n\n```python\n(?P<body>.*?)^```$", re.M | re.S)
BASH_BLOCK = re.compile(r"^```bash\n(?P<body>.*?)^```$", re.M | re.S)
PAGE_URL = "redis://localhost:6379/0"


def _commands(prefix: str) -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    lines = [line for block in BASH_BLOCK.finditer(text) for line in block.group("body").splitlines()]
    return [line for line in lines if line.startswith(prefix)]


def _run(command: str, cwd: Path, url: str = PAGE_URL) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command.replace(PAGE_URL, url))
    if argv[0] in ("flowgen", "pytest"):
        argv = [sys.executable, "-m", argv[0], *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, env=_env(cwd))


def _env(cwd: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), *sys.path])}


@pytest.fixture
def tutorial_dir(tmp_path: Path) -> Path:
    blocks = list(FILE_BLOCK.finditer(PAGE.read_text(encoding="utf-8")))
    assert {block.group("name") for block in blocks} == {"signup.py", "test_signup.py", "run_signup.py"}
    for block in blocks:
        (tmp_path / block.group("name")).write_text(block.group("body"), encoding="utf-8")
    return tmp_path


def test_the_tutorials_tests_pass(tutorial_dir: Path) -> None:
    (command,) = _commands("pytest")
    completed = _run(command + " -p no:cacheprovider", tutorial_dir)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert re.search(r"\b3 passed\b", completed.stdout), completed.stdout


def test_the_sqlite_script_completes_and_a_second_run_repeats_no_step(tutorial_dir: Path) -> None:
    (command,) = _commands("python run_signup.py")
    first = _run(command, tutorial_dir)
    assert first.returncode == 0, first.stderr
    assert "mail to ada@example.com: Welcome!" in first.stdout
    assert first.stdout.strip().endswith("{'account': 'acct-ada', 'status': 'active'}")

    second = _run(command, tutorial_dir)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "{'account': 'acct-ada', 'status': 'active'}"


def test_the_redis_section_runs_on_a_real_worker(tutorial_dir: Path, redis_url: str) -> None:
    (worker_command,) = _commands("flowgen worker")
    log_path = tutorial_dir / "worker.log"
    with open(log_path, "wb") as log:
        argv = shlex.split(worker_command.replace(PAGE_URL, redis_url))
        worker = subprocess.Popen(
            [sys.executable, "-m", "flowgen", *argv[1:]],
            cwd=tutorial_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**_env(tutorial_dir), "FLOWGEN_UNSAFE_REDIS": "ignore"},
        )
    try:
        client_commands = [line for line in _commands("flowgen ") if not line.startswith("flowgen worker")]
        assert [shlex.split(line)[1] for line in client_commands] == ["start", "send-event", "status"]
        for command in client_commands[:-1]:
            completed = _run(command, tutorial_dir, redis_url)
            assert completed.returncode == 0, completed.stderr

        deadline = time.monotonic() + 60
        while True:
            status = _run(client_commands[-1], tutorial_dir, redis_url)
            assert status.returncode == 0, status.stderr
            info = json.loads(status.stdout)
            if info["status"] == "completed":
                break
            assert worker.poll() is None, log_path.read_text()
            if time.monotonic() > deadline:
                pytest.fail(f"the run did not complete: {status.stdout}\n{log_path.read_text()}")
            time.sleep(0.1)
        assert info["output"] == {"account": "acct-ada", "status": "active"}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
