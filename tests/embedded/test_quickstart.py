"""The README's first command: ``python examples/quickstart.py`` on the embedded default."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import flowgen

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.py"


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "FLOWGEN_URL"}


def _run(cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(QUICKSTART)], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_quickstart_prints_its_steps_and_result_and_can_run_twice(tmp_path: Path) -> None:
    started = time.monotonic()
    first = _run(tmp_path)
    second = _run(tmp_path)

    assert time.monotonic() - started < 30
    orders = []
    for output in (first, second):
        (order_id,) = re.findall(r"starting (order-\w+) on sqlite:///flowgen.sqlite3", output)
        orders.append(order_id)
        for step in ("reserve_stock", "charge_card", "notify_customer"):
            assert f"step {step}" in output
        assert f"result of {order_id}: {{'order': '{order_id}', 'status': 'shipped'" in output
        assert "resuming" not in output
    assert orders[0] != orders[1]
    assert (tmp_path / "flowgen.sqlite3").is_file()


def _still_running(process: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    """Fail if the quickstart exited or the deadline passed; else pause before the next poll."""
    assert process.poll() is None, log.read_text()
    assert time.monotonic() < deadline, log.read_text()
    time.sleep(0.02)


def _journaled_both_steps(engine: flowgen.Engine, log: Path) -> bool:
    """Whether the order the first process started has journaled its two steps."""
    (started,) = re.findall(r"starting (order-\w+)", log.read_text())
    try:
        return engine.get(started).status().journal_length >= 2
    except flowgen.RunNotFoundError:
        return False


def test_quickstart_resumes_an_order_whose_process_was_killed(tmp_path: Path) -> None:
    log = tmp_path / "first.out"
    with log.open("w") as out:
        first = subprocess.Popen(
            [sys.executable, str(QUICKSTART)], cwd=tmp_path, env=_env(), stdout=out, stderr=out
        )
    try:
        # Kill it once charge_card's result is in the file (the run then sleeps 2 s): a kill
        # between the step's print and its commit would rightly run the step again.
        deadline = time.monotonic() + 30
        while "starting order-" not in log.read_text():  # the file and its tables exist now
            _still_running(first, log, deadline)
        with flowgen.Engine(f"sqlite:///{tmp_path / 'flowgen.sqlite3'}", start_workers=False) as files:
            while not _journaled_both_steps(files, log):
                _still_running(first, log, deadline)
            first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
    (interrupted,) = re.findall(r"starting (order-\w+)", log.read_text())

    output = _run(tmp_path)

    assert f"resuming {interrupted}" in output
    assert f"step notify_customer: {interrupted} ships" in output
    assert f"result of {interrupted}: {{'order': '{interrupted}', 'status': 'shipped'" in output
    # its first two steps were journaled before the kill: they did not run again
    assert f"for {interrupted}" not in output
