"""The ``flowgen`` command against a real SQLite file and a real redis-server.

Whatever the user gets wrong, the command prints one ``flowgen: error: ...`` line on stderr and
exits non-zero (2 for a command line it cannot use, 1 for an operation that failed), never a
traceback (issue 13 items 10 and 12).
"""

from __future__ import annotations

import json
import socket
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import flowgen
from tests.apps import cli_apps as apps
from tests.cli.conftest import Cli, one_error_line

APPS = "tests.apps.cli_apps"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- what works ----------------------------------------------------------------------------------


def test_start_passes_a_json_array_and_object_and_a_worker_engine_runs_it(cli: Cli, sqlite_url: str) -> None:
    started = cli(
        "start", "cli.echo", "-m", APPS, "--url", sqlite_url, "--run-id", "echo-1",
        "--args", '[1, "two", {"three": 3}]', "--kwargs", '{"n": [4]}',
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "echo-1"

    status = cli("status", "echo-1", "--url", sqlite_url, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "queued"

    with flowgen.Engine(sqlite_url, reconcile_interval=0.2) as engine:
        assert engine.get("echo-1").result(timeout=30) == {
            "args": [1, "two", {"three": 3}],
            "kwargs": {"n": [4]},
        }
    assert apps.echo.name == "cli.echo"


# -- bad input: one line, no traceback ----------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "text", "message"),
    [
        ("--args", '{"n": 1}', "--args takes a JSON array, such as '[1, \"two\"]', got a JSON object"),
        ("--args", '"12"', "--args takes a JSON array, such as '[1, \"two\"]', got a JSON string"),
        ("--args", "[1,", "--args is not valid JSON"),
        ("--kwargs", "[1]", "--kwargs takes a JSON object, such as '{\"n\": 1}', got a JSON array"),
        ("--kwargs", "null", "--kwargs takes a JSON object"),
        ("--kwargs", "{n: 1}", "--kwargs is not valid JSON"),
    ],
)
def test_start_refuses_arguments_of_the_wrong_json_shape(
    cli: Cli, sqlite_url: str, tmp_path: Path, option: str, text: str, message: str
) -> None:
    result = cli("start", "cli.echo", "-m", APPS, "--url", sqlite_url, option, text)

    assert message in one_error_line(result, status=2)
    assert not (tmp_path / "runs.db").exists(), "nothing was opened, let alone started"


def test_send_event_refuses_bad_input_and_a_missing_run(cli: Cli, sqlite_url: str) -> None:
    assert cli("start", "cli.waits", "-m", APPS, "--url", sqlite_url, "--run-id", "w-1").returncode == 0

    assert "event type must not be empty" in one_error_line(
        cli("send-event", "w-1", "", "--url", sqlite_url), 2
    )
    bad_payload = cli("send-event", "w-1", "go", "--payload", "{oops", "--url", sqlite_url)
    assert "--payload is not valid JSON" in one_error_line(bad_payload, 2)
    missing = cli("send-event", "nope", "go", "--url", sqlite_url)
    assert "RunNotFoundError: no run with id 'nope'" in one_error_line(missing, 1)

    delivered = cli("send-event", "w-1", "go", "--payload", '{"ok": true}', "--url", sqlite_url)
    assert delivered.returncode == 0 and delivered.stdout.strip() == "delivered"


def test_export_into_a_missing_folder_says_so(cli: Cli, sqlite_url: str, tmp_path: Path) -> None:
    assert cli("start", "cli.waits", "-m", APPS, "--url", sqlite_url, "--run-id", "x-1").returncode == 0
    target = tmp_path / "no" / "such" / "folder" / "x.json"

    line = one_error_line(cli("export", "x-1", "--url", sqlite_url, "-o", str(target)), 1)

    assert f"cannot write the export to {str(target)!r}: No such file or directory" in line
    ok = cli("export", "x-1", "--url", sqlite_url, "-o", str(tmp_path / "x.json"))
    assert ok.returncode == 0 and json.loads((tmp_path / "x.json").read_text())["run_id"] == "x-1"


@pytest.mark.parametrize("command", [["status", "r"], ["runs"], ["start", "cli.echo"]])
def test_an_unknown_module_is_one_line(cli: Cli, sqlite_url: str, command: list[str]) -> None:
    result = cli(*command, "-m", "no_such_package.workflows", "--url", sqlite_url)

    assert "cannot import 'no_such_package'" in one_error_line(result, 2)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_worker_with_an_unknown_module_is_one_line(cli: Cli, redis_url: str, processes: str) -> None:
    result = cli("worker", "no_such_package.workflows", "--url", redis_url, "--processes", processes)

    assert "cannot import 'no_such_package" in one_error_line(result, 2)


def test_a_redis_that_is_down_is_a_store_unavailable_error(cli: Cli) -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"
    for command in (
        ["runs"],
        ["status", "r-1"],
        ["start", "cli.echo", "-m", APPS],
        ["send-event", "r", "go"],
    ):
        line = one_error_line(cli(*command, "--url", url), 3)
        assert "StoreUnavailableError: Redis at 127.0.0.1:" in line and "is unreachable" in line


def test_a_malformed_redis_url_is_reported_without_its_password(cli: Cli) -> None:
    line = one_error_line(cli("runs", "--url", "redis://:hunter2@localhost:notaport/0"), 1)

    assert "malformed Redis URL 'redis://:***@localhost:notaport/0'" in line
    assert "hunter2" not in line


def test_usage_errors_are_one_line_too(cli: Cli) -> None:
    assert "required: workflow" in one_error_line(cli("start"), 2)
    assert "invalid int value" in one_error_line(cli("runs", "--limit", "many"), 2)
    assert "--limit must be a whole number >= 1, got 0" in one_error_line(cli("runs", "--limit", "0"), 2)


# -- worker settings and URLs are checked before anything starts --------------------------------


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--threads", "0", "--threads must be a whole number >= 1, got 0"),
        ("--processes", "0", "--processes must be a whole number >= 1, got 0"),
        ("--prefetch", "0", "--prefetch must be a whole number >= 1, got 0"),
        ("--async-steps", "0", "--async-steps must be a whole number >= 1, got 0"),
        ("--lease-ttl", "0", "--lease-ttl must be a finite number of seconds above 0, got 0.0"),
        ("--lease-ttl", "nan", "--lease-ttl must be a finite number of seconds above 0, got nan"),
        ("--lease-ttl", "inf", "--lease-ttl must be a finite number of seconds above 0, got inf"),
        ("--grace", "-1", "--grace must be a finite number of seconds 0 or more, got -1.0"),
        ("--reconcile-interval", "0", "--reconcile-interval must be a finite number of seconds above 0"),
    ],
)
def test_worker_settings_out_of_range_are_refused_naming_the_option(
    cli: Cli, redis_url: str, option: str, value: str, message: str
) -> None:
    result = cli("worker", APPS, "--url", redis_url, option, value, timeout=30)

    assert message in one_error_line(result, 2)


@pytest.mark.parametrize("where", ["--url", "FLOWGEN_URL"])
def test_a_worker_on_a_sqlite_url_refuses_before_starting_or_enqueueing_anything(
    cli: Cli, sqlite_url: str, tmp_path: Path, where: str
) -> None:
    with flowgen.Engine(sqlite_url, start_workers=False) as client:
        client.start(apps.echo, run_id="untouched")
    db = sqlite3.connect(tmp_path / "runs.db")
    before = db.execute("SELECT score FROM ready WHERE run_id = 'untouched'").fetchall()

    if where == "--url":
        result = cli("worker", APPS, "--url", sqlite_url, timeout=30)
    else:
        result = cli("worker", APPS, env={"FLOWGEN_URL": sqlite_url}, timeout=30)

    assert "flowgen worker needs a redis:// URL" in one_error_line(result, 2)
    assert db.execute("SELECT score FROM ready WHERE run_id = 'untouched'").fetchall() == before
    assert db.execute("SELECT status FROM runs WHERE run_id = 'untouched'").fetchall() == [("queued",)]
    db.close()


def test_status_shows_a_delayed_start_and_a_deadline(cli: Cli, sqlite_url: str) -> None:
    with flowgen.Engine(sqlite_url, start_workers=False) as engine:
        engine.start(apps.echo, run_id="later", delay="10 minutes", timeout="1 hour")
    status = cli("status", "later", "--json", "--url", sqlite_url)
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["status"] == "queued"
    assert "blocked_by" not in shown
    starts_at = datetime.fromisoformat(shown["starts_at"])
    assert datetime.fromisoformat(shown["deadline"]) - starts_at == timedelta(hours=1)
