"""The CLI side of issue 18: ``flowgen start`` binds arguments and schemas before creating a run;
``flowgen worker --version`` is checked; ``flowgen status`` shows the run's code version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import flowgen
from tests.apps import versioning_v1 as v1
from tests.apps import versioning_v2 as v2
from tests.cli.conftest import Cli, one_error_line
from tests.conftest import wait_until


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


def _no_runs(url: str) -> None:
    with flowgen.Engine(url, start_workers=False) as engine:
        assert engine.runs() == []


def test_start_with_arguments_the_workflow_cannot_take_is_one_line_and_creates_nothing(
    cli: Cli, sqlite_url: str
) -> None:
    started = cli(
        "start", "schemas.plain", "-m", "tests.apps.schema_apps", "--url", sqlite_url,
        "--kwargs", '{"colour": "red"}',
    )  # fmt: skip
    line = one_error_line(started, 1)
    assert "workflow 'schemas.plain' cannot be called with (colour='red')" in line
    assert "missing a required argument: 'order_id'" in line
    _no_runs(sqlite_url)


def test_start_with_an_argument_that_does_not_fit_its_schema_names_the_field(
    cli: Cli, sqlite_url: str
) -> None:
    started = cli(
        "start", "schemas.checkout", "-m", "tests.apps.schema_apps", "--url", sqlite_url,
        "--args", '[{"order_id": "o", "amount": "x"}, {"city": "c", "zip": "z"}, {"weight": 1}]',
    )  # fmt: skip
    line = one_error_line(started, 1)
    assert "SchemaError: argument 'payment' of workflow 'schemas.checkout' does not fit Payment" in line
    assert "field 'amount'" in line
    _no_runs(sqlite_url)


def test_status_shows_the_code_version_the_run_started_under(cli: Cli, sqlite_url: str) -> None:
    with flowgen.Engine(sqlite_url, start_workers=False, version="2024.06.1") as engine:
        engine.start("cli.echo", 1, run_id="versioned")
    status = cli("status", "versioned", "--url", sqlite_url, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["version"] == "2024.06.1"


@pytest.mark.parametrize("bad", ["", "a\tb", "x" * 101])
def test_worker_version_that_cannot_be_recorded_is_refused(cli: Cli, bad: str) -> None:
    started = cli("worker", "tests.apps.cli_apps", "--url", "redis://127.0.0.1:1/0", "--version", bad)
    line = one_error_line(started, 2)
    assert "--version: version must be a str of 1 to 100 printable characters" in line


def _parked_run(url: str, workflow: flowgen.Workflow, run_id: str) -> None:
    """Run ``workflow`` on an embedded engine of that code only, until it waits for 'go'."""
    registry = flowgen.Registry()
    registry.add_workflow(workflow)
    with flowgen.Engine(url, registry=registry) as engine:
        engine.start(workflow, 1, run_id=run_id)
        wait_until(lambda: engine.status(run_id).status == "waiting", 60, f"{run_id} to wait for 'go'")


def _verified(cli: Cli, url: str, module: str) -> dict[str, str]:
    """``flowgen verify``'s verdict on each run: ``"ok"`` or the error's type and position."""
    checked = cli("verify", "-m", module, "--url", url, "--json")
    results = json.loads(checked.stdout)["results"]
    assert checked.returncode == (0 if all(item["ok"] for item in results) else 1), checked.stderr
    return {
        item["run_id"]: "ok" if item["ok"] else f"{item['error'].split(':')[0]} at {item['position']}"
        for item in results
    }


def test_verify_understands_patches_and_names_the_runs_a_retired_patch_would_break(
    cli: Cli, sqlite_url: str
) -> None:
    _parked_run(sqlite_url, v1.BY_NAME["versioning.add_step"], "before-the-patch")
    _parked_run(sqlite_url, v2.BY_NAME["versioning.add_step"], "recorded-the-patch")
    # Version 2 (patched("audit-before-wait") and both branches) replays both runs.
    assert _verified(cli, sqlite_url, "tests.apps.versioning_worker_v2") == {
        "before-the-patch": "ok",
        "recorded-the-patch": "ok",
    }
    # deprecate_patch(...) replays the run that recorded the marker, not the one that predates it.
    assert _verified(cli, sqlite_url, "tests.apps.versioning_worker_v3") == {
        "before-the-patch": "NonDeterminismError at 1",
        "recorded-the-patch": "ok",
    }
