"""The embedded default end to end, in real processes: no server, ``kill -9``, restarts.

Every scenario runs ``tests/embedded/runner.py`` in a subprocess (a plain script, as a user
would write it) on a SQLite file in the test's temporary directory; steps count their
executions in a side SQLite table (``tests/apps/embedded_apps.py``). Waits poll with deadlines.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flowgen
from flowgen.stores.sqlite import SQLiteStore
from tests.apps.embedded_apps import executions

REPO = Path(__file__).resolve().parents[2]
FAST = ["--lease-ttl", "1", "--grace", "0.5", "--reconcile-interval", "0.2"]


class Child:
    """A runner subprocess whose output goes to files (a killed child's pipes cannot fill up)."""

    def __init__(self, args: list[str], cwd: Path, ledger: Path, **env: str) -> None:
        self.out = cwd / f"child-{time.monotonic_ns()}.out"
        self.err = self.out.with_suffix(".err")
        environment = {key: value for key, value in os.environ.items() if key != "FLOWGEN_URL"}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        environment["FLOWGEN_TEST_LEDGER"] = str(ledger)
        environment.update(env)
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.embedded.runner", *args],
                cwd=cwd,
                env=environment,
                stdout=out,
                stderr=err,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()}"

    def result(self, timeout: float = 120) -> dict[str, Any]:
        """Wait for a clean exit and return the ``RESULT`` document."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the child did not finish within {timeout}s\n{self.output()}")
        assert code == 0, self.output()
        lines = [line for line in self.out.read_text().splitlines() if line.startswith("RESULT ")]
        assert lines, self.output()
        return dict(json.loads(lines[-1][len("RESULT ") :]))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Children to kill at the end of the test, whatever happened."""
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def wait_until(
    condition: Callable[[], bool], what: str, child: Child | None = None, timeout: float = 60
) -> None:
    """Poll ``condition`` until true; fail after ``timeout`` or when ``child`` exits first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if child is not None and child.process.poll() is not None:
            pytest.fail(f"the child exited ({child.process.returncode}) before {what}\n{child.output()}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout}s waiting for {what}" + (f"\n{child.output()}" if child else "")
            )
        time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_embedded_order_workflow_runs_in_a_plain_script_with_no_server_and_no_redis_connection(
    tmp_path: Path, children: list[Child]
) -> None:
    ledger = tmp_path / "ledger.db"
    child = Child(["order"], tmp_path, ledger)
    children.append(child)

    report = child.result()

    assert report["result"] == {
        "payment": "pay-o-1-42.50",
        "tracking": "ups:box-o-1",
        "notice": "mailed o-1 ups:box-o-1",
    }
    assert report["journal"] == [
        ["step", "embedded.reserve"],
        ["step", "embedded.charge"],
        ["sleep", "sleep"],
        ["step", "embedded.pack"],
        ["event", "shipped"],
        ["step", "embedded.label"],
        ["step", "embedded.notify"],
    ]
    assert [row["step"] for row in executions(ledger)] == ["reserve", "charge", "pack", "label", "notify"]
    # flowgen.Engine() with no URL and no FLOWGEN_URL: a SQLite file in the current directory
    assert report["url"] == "sqlite:///flowgen.sqlite3"
    assert (tmp_path / "flowgen.sqlite3").is_file()
    # the proof: no socket was connected at all, and redis-py never tried to connect
    assert report["socket_connects"] == []
    assert report["redis_connects"] == []


def test_the_connection_detectors_of_the_no_server_test_do_fire(
    tmp_path: Path, children: list[Child]
) -> None:
    port = _free_port()
    child = Child(["probe-redis", str(port)], tmp_path, tmp_path / "ledger.db")
    children.append(child)

    report = child.result()

    assert report["redis_connects"] == [repr(port)]
    assert report["error"] == "the embedded test forbids Redis connections"
    # the audit hook sees a raw connection too (one that does not go through redis-py)
    script = (
        "import socket, sys, json\n"
        "seen = []\n"
        "def hook(event, args):\n"
        "    if event == 'socket.connect':\n"
        "        seen.append(repr(args[1]))\n"
        "sys.addaudithook(hook)\n"
        f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\nexcept OSError:\n    pass\n"
        "print(json.dumps(seen))\n"
    )
    raw = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(raw.stdout) == [repr(("127.0.0.1", port))]


def test_embedded_run_killed_mid_workflow_finishes_in_a_new_process_without_rerunning_steps(
    tmp_path: Path, children: list[Child]
) -> None:
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    ledger = tmp_path / "ledger.db"
    first = Child(
        ["start", url, "embedded.ten_steps", "crash-1", "[]", *FAST],
        tmp_path,
        ledger,
        FLOWGEN_TEST_HOLD_AT="5",
    )
    children.append(first)

    # step 5 starting means steps 1-4 are journaled (closing a step and opening the next is one commit)
    wait_until(lambda: "step5" in [row["step"] for row in executions(ledger)], "step 5 to start", first)
    store = SQLiteStore(db)
    assert [entry.name for entry in store.read_journal("crash-1")] == ["embedded.work"] * 4
    first.kill()
    assert first.process.returncode == -signal.SIGKILL
    record = store.get_run("crash-1")
    assert record is not None and record.status == "running" and record.owner  # the dead process's lease

    second = Child(["resume", url, "crash-1", *FAST], tmp_path, ledger)
    children.append(second)
    report = second.result()

    assert report["result"] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    rows = executions(ledger, "crash-1")
    counts = Counter(row["step"] for row in rows)
    assert counts == {f"step{i}": 2 if i == 5 else 1 for i in range(1, 11)}
    assert {row["pid"] for row in rows if row["step"] in ("step1", "step2", "step3", "step4")} == {first.pid}
    assert {row["pid"] for row in rows if row["step"] in (f"step{i}" for i in range(6, 11))} == {
        second.process.pid
    }
    # step 5's interrupted attempt is in the journal, and it counted as an attempt
    step5 = store.read_journal("crash-1")[4]
    assert [attempt["status"] for attempt in step5.attempts] == ["crashed", "ok"]
    store.close()


def test_embedded_sleeping_run_wakes_at_its_due_time_after_a_restart(
    tmp_path: Path, children: list[Child]
) -> None:
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    ledger = tmp_path / "ledger.db"
    first = Child(["start", url, "embedded.nap", "nap-1", "[3.0]", *FAST], tmp_path, ledger)
    children.append(first)
    store = SQLiteStore(db)

    def parked() -> bool:
        record = store.get_run("nap-1")
        return record is not None and record.status == "waiting"

    wait_until(parked, "the run to sleep", first)
    due = store.next_timer()
    assert due is not None
    first.kill()

    second = Child(["resume", url, "nap-1", *FAST], tmp_path, ledger)
    children.append(second)
    report = second.result()

    assert report["opened"] < due, (
        "the second process must start before the timer is due for this test to mean anything"
    )
    after = report["result"]["after"]
    assert due <= after < due + 3
    assert report["result"]["before"] < due
    assert Counter(row["step"] for row in executions(ledger, "nap-1")) == {"before": 1, "after": 1}
    store.close()


def test_an_event_sent_from_another_process_wakes_a_run_of_the_embedded_worker(
    tmp_path: Path, children: list[Child]
) -> None:
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    ledger = tmp_path / "ledger.db"
    worker = Child(["start", url, "embedded.order", "order-x", '["x", 5.0, 0.0]', *FAST], tmp_path, ledger)
    children.append(worker)
    # a client engine: it writes to the file, the worker process advances the run. Its grace is
    # how soon the worker's reconciler picks up what this process wrote (see docs/embedded.md).
    client = flowgen.Engine(url, start_workers=False, grace=0.5)
    try:
        wait_until(lambda: client.store.get_run("order-x") is not None, "the run to be created", worker)
        wait_until(
            lambda: client.get("order-x").status().waiting_for == ("shipped",), "the event wait", worker
        )
        assert client.send_event("order-x", "shipped", {"carrier": "dhl"}) is True

        report = worker.result()
    finally:
        client.close()

    assert report["result"]["tracking"] == "dhl:box-x"
    assert [row["pid"] for row in executions(ledger, "order-x")] == [worker.pid] * 5
