"""``flowgen schedules ...`` with the real executable, on a real SQLite file and a real Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, one_error_line

APPS = ["-m", "tests.apps.schedule_apps"]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path / 'flowgen.db'}"


def _ok(result: object) -> str:
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]


def test_create_list_get_pause_resume_update_trigger_delete(cli: Cli, url: str) -> None:
    created = json.loads(
        _ok(cli("schedules", "create", "nightly", "schedules.nightly", "--url", url, *APPS,
                "--cron", "0 2 * * *", "--timezone", "Europe/Paris", "--args", '["us"]'))
    )  # fmt: skip
    assert created["when"] == "cron '0 2 * * *' in Europe/Paris"
    assert created["next_ticks"][0].endswith("T02:00:00+01:00")
    (listed,) = [json.loads(line) for line in _ok(cli("schedules", "list", "--url", url)).splitlines()]
    assert listed["name"] == "nightly" and listed["paused"] is False
    paused = json.loads(_ok(cli("schedules", "pause", "nightly", "--note", "migration", "--url", url)))
    assert paused["paused"] is True and paused["next_tick"] is None
    assert json.loads(_ok(cli("schedules", "resume", "nightly", "--url", url)))["paused"] is False
    updated = json.loads(
        _ok(cli("schedules", "update", "nightly", "--every", "2 hours", "--url", url, *APPS))
    )
    assert (updated["every"], updated["cron"]) == (7200.0, None)
    run_id = _ok(cli("schedules", "trigger", "nightly", "--url", url, *APPS)).strip()
    assert run_id.startswith("schedule:nightly:") and run_id.endswith(":manual")
    got = json.loads(_ok(cli("schedules", "get", "nightly", "--url", url, "--ticks", "3")))
    assert len(got["next_ticks"]) == 3 and got["runs"][0]["run_id"] == run_id and got["runs"][0]["manual"]
    status = json.loads(_ok(cli("status", run_id, "--url", url, "--json")))
    assert status["schedule"] == "nightly" and run_id.startswith(f"schedule:nightly:{status['tick']}")
    assert _ok(cli("schedules", "delete", "nightly", "--url", url)).strip() == "deleted nightly"
    assert _ok(cli("schedules", "list", "--url", url)) == ""


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--cron", "0 25 * * *"], "invalid cron expression '0 25 * * *'"),
        (["--cron", "0 2 * * *", "--timezone", "Nowhere/City"], "unknown time zone 'Nowhere/City'"),
        (["--every", "0"], "every must be at least 1 second"),
        (["--every", "-3"], "every"),
        (
            ["--every", "1h", "--args", "[1, 2, 3]"],
            "do not fit: workflow 'schedules.nightly' cannot be called with",
        ),
        (["--every", "1h", "--kwargs", '{"x": 1}'], "do not fit"),
        (["--every", "1h", "--args", '{"a": 1}'], "--args takes a JSON array"),
    ],
)
def test_bad_settings_are_one_error_line_and_nothing_is_stored(
    cli: Cli, url: str, options: list[str], expected: str
) -> None:
    result = cli("schedules", "create", "bad", "schedules.nightly", "--url", url, *APPS, *options)
    assert expected in one_error_line(result)
    assert _ok(cli("schedules", "list", "--url", url)) == ""


def test_unknown_workflow_and_schedule_are_one_error_line(cli: Cli, url: str) -> None:
    line = one_error_line(cli("schedules", "create", "x", "no.such", "--every", "1h", "--url", url))
    assert "'no.such', which is not registered" in line and "-m MODULE" in line
    assert "no schedule named 'ghost'" in one_error_line(cli("schedules", "get", "ghost", "--url", url))
    assert "no schedule named 'ghost'" in one_error_line(cli("schedules", "trigger", "ghost", "--url", url))


def test_sync_registers_the_declared_schedules_of_the_modules(cli: Cli, url: str) -> None:
    report = json.loads(_ok(cli("schedules", "sync", "-m", "tests.apps.schedule_declared", "--url", url)))
    assert report["created"] == ["declared-quick"]
    again = cli("schedules", "sync", "-m", "tests.apps.schedule_declared", "--url", url,
                env={"FLOWGEN_TEST_EVERY": "5"})  # fmt: skip
    assert json.loads(_ok(again))["updated"] == ["declared-quick"]
    gone = json.loads(_ok(cli("schedules", "sync", *APPS, "--url", url, "--prune")))
    assert gone["deleted"] == ["declared-quick"]
