"""Every operator command, run as the real ``flowgen`` executable against a real SQLite file and
a real redis-server (issue 19): output for people and ``--json``, exit statuses, bulk actions.

Runs advance in an engine of the test process on the same store (embedded threads on SQLite,
``engine.worker()`` threads on Redis), as they would in the deployment's own processes.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowgen
from tests.apps import cli_apps  # noqa: F401 - declares the workflows the engine advances
from tests.cli.conftest import Cli, cli_environment, one_error_line
from tests.conftest import ROOT

APPS = "tests.apps.cli_apps"


@pytest.fixture(params=["sqlite", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def engine(url: str) -> Iterator[flowgen.Engine]:
    """The engine that advances the runs the commands start (its workers run in this process)."""
    if url.startswith("sqlite"):
        with flowgen.Engine(url, reconcile_interval=0.05, timer_interval=0.05) as embedded:
            yield embedded
        return
    client = flowgen.Engine(url)
    handle = client.worker(threads=4)
    try:
        yield client
    finally:
        handle.stop()
        client.close()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def start(cli: Cli, url: str, workflow: str, *options: str) -> str:
    return ok(cli("start", workflow, "-m", APPS, "--url", url, *options)).strip()


def test_runs_filters_by_tag_status_workflow_and_pages_with_a_cursor(
    cli: Cli, url: str, engine: flowgen.Engine
) -> None:
    for number in range(5):
        tags = ["--tag", f"customer={number % 2}", "--tag", "region=eu"]
        start(cli, url, "cli.steps", "--args", f"[{number}]", "--run-id", f"s{number}", *tags)
    start(cli, url, "cli.sleeps", "--run-id", "z1", "--tag", "customer=1")
    for number in range(5):
        assert engine.result(f"s{number}", timeout=30) == number * 4
    engine.wait_for_status("z1", ["waiting"], 30)

    tagged = as_json(cli("runs", "--url", url, "--json", "--tag", "customer=1"))
    assert [run["run_id"] for run in tagged["runs"]] == ["z1", "s3", "s1"]
    assert tagged["runs"][1]["tags"] == {"customer": "1", "region": "eu"}
    assert tagged["next_cursor"] is None
    both = as_json(cli("runs", "--url", url, "--json", "--tag", "customer=1", "--status", "completed"))
    assert [run["run_id"] for run in both["runs"]] == ["s3", "s1"]
    assert [
        r["run_id"] for r in as_json(cli("runs", "--url", url, "--json", "--workflow", "cli.sleeps"))["runs"]
    ] == ["z1"]
    several = as_json(cli("runs", "--url", url, "--json", "--status", "waiting,completed", "--limit", "100"))
    assert len(several["runs"]) == 6

    seen: list[str] = []
    arguments = ["runs", "--url", url, "--json", "--limit", "2"]
    page = as_json(cli(*arguments))
    while True:
        seen += [run["run_id"] for run in page["runs"]]
        if page["next_cursor"] is None:
            break
        page = as_json(cli(*arguments, "--cursor", page["next_cursor"]))
    assert seen == ["z1", "s4", "s3", "s2", "s1", "s0"]
    assert [r["run_id"] for r in as_json(cli(*arguments, "--offset", "4"))["runs"]] == ["s1", "s0"]

    counts = as_json(cli("runs", "--url", url, "--count", "--json"))
    assert counts == {"counts": {"completed": 5, "waiting": 1}, "total": 6}
    assert as_json(cli("runs", "--url", url, "--count", "--json", "--tag", "customer=0"))["total"] == 3

    # For people: a table, local times with their zone, the next page's command.
    table = cli("runs", "--url", url, "--limit", "2", env={"TZ": "Asia/Tokyo"})
    lines = ok(table).splitlines()
    assert lines[0].split() == ["RUN", "ID", "WORKFLOW", "STATUS", "CREATED", "TOOK", "TAGS"]
    assert lines[1].split()[:3] == ["z1", "cli.sleeps", "waiting"] and "JST" in lines[1]
    assert "customer=1" in lines[1]
    assert "next page: flowgen runs" in table.stderr and "--cursor" in table.stderr


def test_status_says_what_a_sleeping_run_waits_for(cli: Cli, url: str, engine: flowgen.Engine) -> None:
    start(cli, url, "cli.sleeps", "--run-id", "z1")
    engine.wait_for_status("z1", ["waiting"], 30)

    data = as_json(cli("status", "z1", "--url", url, "--json"))
    assert data["status"] == "waiting" and data["finished"] is None
    assert [(item["kind"], item["name"]) for item in data["waiting_on"]] == [("sleep", "sleep")]
    assert data["waiting_on"][0]["due"] > data["created"]
    text = ok(cli("status", "z1", "--url", url, env={"TZ": "UTC"}))
    assert "waiting on   sleep until " in text and "(in 23h 59m)" in text


def test_result_exits_0_for_completed_1_for_failed_2_for_anything_else(
    cli: Cli, url: str, engine: flowgen.Engine
) -> None:
    start(cli, url, "cli.steps", "--args", "[5]", "--run-id", "good")
    start(cli, url, "cli.fails", "--args", '["no stock"]', "--run-id", "bad")
    start(cli, url, "cli.sleeps", "--run-id", "slow")

    done = cli("result", "good", "--url", url, "--timeout", "30")
    assert ok(done).strip() == "20"
    assert as_json(cli("result", "good", "--url", url, "--json"))["output"] == 20
    failed = cli("result", "bad", "--url", url, "--timeout", "30")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "run bad failed: builtins.RuntimeError: refused: no stock" in failed.stderr
    timeout = cli("result", "slow", "--url", url, "--timeout", "0.2")
    assert "did not finish within 0.2s" in one_error_line(timeout, 2)
    assert "RunNotFoundError" in one_error_line(cli("result", "nope", "--url", url), 2)


def test_history_is_a_timeline_with_attempts_errors_and_tracebacks(
    cli: Cli, url: str, engine: flowgen.Engine
) -> None:
    start(cli, url, "cli.fails", "--args", '["no stock"]', "--run-id", "bad")
    with pytest.raises(flowgen.WorkflowFailedError):
        engine.result("bad", timeout=30)

    view = as_json(cli("history", "bad", "--url", url, "--json"))
    assert view["status"] == "failed"
    first, second = view["entries"]
    assert (first["kind"], first["name"], first["status"]) == ("step", "cli.double", "completed")
    assert (second["name"], second["status"]) == ("cli.refuse", "failed")
    assert [a["number"] for a in second["attempts"]] == [1, 2]
    assert second["attempts"][0]["error"]["message"] == "refused: no stock"
    assert second["attempts"][0]["duration"] is not None
    assert "raise RuntimeError" in second["error"]["traceback"]

    text = ok(cli("history", "bad", "--url", url))
    assert "#1   step     'cli.refuse'" in text and "attempt 2" in text
    assert "| RuntimeError: refused: no stock" in text


def test_history_shows_a_sleep_due_an_event_wait_and_previous_generations(
    cli: Cli, url: str, engine: flowgen.Engine
) -> None:
    start(cli, url, "cli.waits", "--run-id", "w1")
    engine.wait_for_status("w1", ["waiting"], 30)
    waiting = as_json(cli("history", "w1", "--url", url, "--json"))["entries"][-1]
    assert (waiting["kind"], waiting["status"], waiting["event_type"]) == ("event", "in progress", "go")
    ok(cli("restart", "w1", "--url", url))
    engine.wait_for_status("w1", ["waiting"], 30)
    view = as_json(cli("history", "w1", "--url", url, "--json"))
    assert view["generation"] == 1
    assert [old["ended_by"] for old in view["previous_generations"]] == ["restart"]


def test_events_lists_the_buffered_inbox(cli: Cli, url: str, engine: flowgen.Engine) -> None:
    start(cli, url, "cli.waits", "--run-id", "w1")
    ok(cli("send-event", "w1", "other", "--payload", '{"n": 1}', "--event-id", "e-1", "--url", url))
    events = as_json(cli("events", "w1", "--url", url, "--json"))["events"]
    assert [(e["type"], e["id"], e["payload"]) for e in events] == [("other", "e-1", {"n": 1})]
    table = ok(cli("events", "w1", "--url", url)).splitlines()
    assert table[0].split() == ["TYPE", "EVENT", "ID", "SENT", "PAYLOAD"]
    assert table[1].split()[:2] == ["other", "e-1"] and '{"n":1}' in table[1]


def test_pause_resume_and_cancel_one_run(cli: Cli, url: str, engine: flowgen.Engine) -> None:
    start(cli, url, "cli.sleeps", "--run-id", "z1")
    engine.wait_for_status("z1", ["waiting"], 30)

    assert "z1: paused (now paused)" in ok(cli("pause", "z1", "--url", url))
    assert as_json(cli("resume", "z1", "--url", url, "--json"))["results"][0]["ok"]
    engine.wait_for_status("z1", ["waiting"], 30)
    ok(cli("cancel", "z1", "--force", "--url", url))
    assert engine.status("z1").status == "cancelled"
    again = cli("resume", "z1", "--url", url)
    assert again.returncode == 1 and "z1: RunFinishedError" in again.stderr


def test_retry_resumes_a_failed_run_from_its_failed_step(cli: Cli, url: str, engine: flowgen.Engine) -> None:
    start(cli, url, "cli.fails", "--args", '["x"]', "--run-id", "bad")
    with pytest.raises(flowgen.WorkflowFailedError):
        engine.result("bad", timeout=30)
    assert "bad: retried" in ok(cli("retry", "bad", "--url", url))
    engine.wait_for_status("bad", ["failed"], 30)
    view = as_json(cli("history", "bad", "--url", url, "--json"))
    assert [old["ended_by"] for old in view["previous_generations"]] == ["retry"]
    not_failed = cli("retry", "nope", "--url", url)
    assert not_failed.returncode == 1 and "RunNotFoundError" in not_failed.stderr


def test_a_bulk_cancel_counts_and_needs_a_confirmation(cli: Cli, url: str, engine: flowgen.Engine) -> None:
    for number in range(3):
        start(cli, url, "cli.sleeps", "--run-id", f"z{number}")
    start(cli, url, "cli.steps", "--args", "[1]", "--run-id", "done")
    engine.result("done", timeout=30)
    for number in range(3):
        engine.wait_for_status(f"z{number}", ["waiting"], 30)

    refused = cli("cancel", "--workflow", "cli.sleeps", "--status", "waiting", "--url", url)
    assert "cancel 3 run(s): pass --yes to confirm" in one_error_line(refused, 2)
    assert engine.count(status="waiting") == {"waiting": 3}

    done = as_json(
        cli("cancel", "--workflow", "cli.sleeps", "--older-than", "0s", "--yes", "--json", "--url", url)
    )
    assert done["selected"] == 3 and all(item["ok"] for item in done["results"])
    for number in range(3):
        engine.wait_for_status(f"z{number}", ["cancelled"], 30)
    assert engine.status("done").status == "completed"
    nothing = cli("cancel", "--workflow", "cli.sleeps", "--url", url, "--yes")
    assert ok(nothing) == "" and "no runs match" in nothing.stderr
    both = cli("cancel", "z1", "--workflow", "cli.sleeps", "--url", url)
    assert "not both" in one_error_line(both, 2)
    assert "needs run ids, or filters" in one_error_line(cli("pause", "--url", url), 2)


def test_purge_deletes_finished_runs_older_than_a_duration(
    cli: Cli, url: str, engine: flowgen.Engine
) -> None:
    start(cli, url, "cli.steps", "--args", "[1]", "--run-id", "old", "--tag", "k=v")
    start(cli, url, "cli.sleeps", "--run-id", "live")
    engine.result("old", timeout=30)
    engine.wait_for_status("live", ["waiting"], 30)

    assert as_json(cli("purge", "--older-than", "1h", "--json", "--url", url))["count"] == 0
    dry = cli("purge", "--older-than", "0s", "--dry-run", "--url", url)
    assert ok(dry).split() == ["old"] and "nothing deleted" in dry.stderr
    assert engine.status("old").status == "completed"
    assert "pass --yes" in one_error_line(cli("purge", "--older-than", "0s", "--url", url), 2)
    assert ok(cli("purge", "--older-than", "0s", "--yes", "--url", url)).strip() == "purged 1 finished run(s)"
    assert "RunNotFoundError" in one_error_line(cli("status", "old", "--url", url), 1)
    assert as_json(cli("runs", "--json", "--tag", "k=v", "--url", url))["runs"] == []
    assert engine.status("live").status == "waiting"
    assert "not a finished status" in one_error_line(
        cli("purge", "--older-than", "0s", "--status", "waiting", "--url", url), 2
    )


def test_verify_names_every_run_the_new_code_would_break(
    cli: Cli, url: str, engine: flowgen.Engine, tmp_path: Path
) -> None:
    for number in range(2):
        start(cli, url, "cli.evolving", "--run-id", f"v{number}")
    start(cli, url, "cli.waits", "--run-id", "other")
    for run_id in ("v0", "v1", "other"):
        engine.wait_for_status(run_id, ["waiting"], 30)

    same = cli("verify", "-m", APPS, "--url", url, "--since", "1h")
    assert "3 run(s) checked, 0 would fail" in ok(same) + same.stderr
    changed = cli("verify", "-m", APPS, "--url", url, "--json", env={"CLI_APPS_VARIANT": "2"})
    assert changed.returncode == 1
    report = json.loads(changed.stdout)
    assert report["checked"] == 3 and report["failed"] == 2
    assert {item["run_id"] for item in report["results"] if not item["ok"]} == {"v0", "v1"}
    assert all("NonDeterminismError" in item["error"] for item in report["results"] if not item["ok"])

    exported = tmp_path / "v0.json"
    ok(cli("export", "v0", "--url", url, "-o", str(exported)))
    assert cli("verify", "-m", APPS, str(exported)).returncode == 0
    text = cli("verify", "-m", APPS, str(exported), env={"CLI_APPS_VARIANT": "2"})
    assert text.returncode == 1 and "FAILS    v0 (cli.evolving): NonDeterminismError" in text.stdout
    assert "no such journal file" in one_error_line(
        cli("verify", "-m", APPS, str(tmp_path / "missing.json")), 2
    )
    assert "needs -m MODULE" in one_error_line(cli("verify", "--url", url), 2)


# -- bad input: one line, a documented status, no traceback -----------------------------------


def test_bad_listing_input_is_refused_naming_the_fix(cli: Cli, url: str, engine: flowgen.Engine) -> None:
    start(cli, url, "cli.steps", "--args", "[1]", "--run-id", "s1")
    unknown = one_error_line(cli("runs", "--status", "sleeping", "--url", url), 2)
    assert "unknown status 'sleeping'; use one of queued, running, waiting, paused" in unknown
    assert "--offset must be a whole number >= 0, got -1" in one_error_line(
        cli("runs", "--offset", "-1", "--url", url), 2
    )
    assert "--limit must be a whole number >= 1, got 0" in one_error_line(
        cli("runs", "--limit", "0", "--url", url), 2
    )
    assert "invalid cursor" in one_error_line(cli("runs", "--cursor", "garbage", "--url", url), 2)
    assert "a tag is written key=value" in one_error_line(cli("runs", "--tag", "customer", "--url", url), 2)
    assert "--created-after takes a time" in one_error_line(
        cli("runs", "--created-after", "yesterday", "--url", url), 2
    )
    for command in (["status", "nope"], ["history", "nope"], ["events", "nope"], ["cancel", "nope"]):
        line = one_error_line(cli(*command, "--url", url), 1)
        assert "RunNotFoundError: no run with id 'nope'" in line


@pytest.mark.parametrize(
    "command",
    [
        ["runs"],
        ["runs", "--count"],
        ["status", "r"],
        ["history", "r"],
        ["events", "r"],
        ["result", "r"],
        ["cancel", "r"],
        ["purge", "--older-than", "1d", "--dry-run"],
        ["verify", "-m", APPS],
        ["export", "r"],
    ],
)
def test_reading_commands_never_create_a_missing_sqlite_database(
    cli: Cli, tmp_path: Path, command: list[str]
) -> None:
    database = tmp_path / "typo.db"
    result = cli(*command, "--url", f"sqlite:///{database}")
    line = one_error_line(result, 2 if command[0] == "result" else 3)
    assert f"no flowgen database at {database}" in line and "`flowgen start` creates one" in line
    assert not database.exists()


def test_the_default_url_in_the_wrong_folder_says_where_it_looked(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flowgen", "runs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**cli_environment(), "PYTHONPATH": str(ROOT)},
    )
    assert f"no flowgen database at flowgen.sqlite3 (in {tmp_path})" in one_error_line(result, 3)
    assert list(tmp_path.iterdir()) == []


def test_a_redis_that_is_down_is_exit_status_3(cli: Cli, unused_redis_url: str) -> None:
    for command in (
        ["runs"],
        ["runs", "--count"],
        ["history", "r"],
        ["cancel", "r"],
        ["purge", "--older-than", "1d", "--yes"],
    ):
        line = one_error_line(cli(*command, "--url", unused_redis_url), 3)
        assert "StoreUnavailableError: Redis at 127.0.0.1:" in line


@pytest.fixture
def unused_redis_url() -> str:
    from tests.cli.test_cli import _free_port

    return f"redis://127.0.0.1:{_free_port()}/0"


# -- terminals and colours ---------------------------------------------------------------------


def _on_a_terminal(arguments: list[str], env: dict[str, str], answer: bytes | None = None) -> str:
    """Run the command with stdout (and stdin, to ``answer`` a question) on a pseudo-terminal;
    return what it printed there."""
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "flowgen", *arguments],
        cwd=ROOT,
        env=cli_environment(**env),
        stdin=secondary if answer is not None else None,
        stdout=secondary,
        stderr=subprocess.STDOUT if answer is not None else subprocess.PIPE,
    )
    os.close(secondary)
    if answer is not None:
        os.write(main, answer)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(60)
    os.close(main)
    return b"".join(chunks).decode()


def test_statuses_are_coloured_on_a_terminal_unless_no_color(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    start(cli, url, "cli.steps", "--args", "[1]", "--run-id", "s1")
    assert "\x1b[34mqueued" in _on_a_terminal(["runs", "--url", url], {})
    plain = _on_a_terminal(["runs", "--url", url], {"NO_COLOR": "1"})
    assert "queued" in plain and "\x1b[" not in plain
    assert "\x1b[" not in ok(cli("runs", "--url", url)), "no colour when stdout is not a terminal"


def test_a_bulk_action_asks_on_a_terminal_and_acts_only_on_yes(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    for number in range(2):
        start(cli, url, "cli.sleeps", "--run-id", f"z{number}")
    refused = _on_a_terminal(["pause", "--workflow", "cli.sleeps", "--url", url], {}, answer=b"n\n")
    assert "pause 2 run(s)? [y/N]" in refused and "not confirmed; nothing was changed" in refused
    with flowgen.Engine(url, start_workers=False) as reader:
        assert reader.count() == {"queued": 2}
        confirmed = _on_a_terminal(["pause", "--workflow", "cli.sleeps", "--url", url], {}, answer=b"y\n")
        assert "2 of 2 run(s) paused" in confirmed
        assert reader.count() == {"paused": 2}
