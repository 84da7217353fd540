"""verify_replay: current code against exported journals, failing at the exact diverging position."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import flowgen
from flowgen.testing import NonDeterminismError, Runner, load_export, verify_replay

EXECUTED: list[str] = []


@flowgen.step(name="testing.replay.fetch", retries=0)
def fetch(user: str) -> dict[str, str]:
    EXECUTED.append("fetch")
    return {"user": user, "email": f"{user}@example.com"}


@flowgen.step(name="testing.replay.score", retries=0)
def score(user: str) -> int:
    EXECUTED.append("score")
    return len(user)


@flowgen.step(name="testing.replay.audit", retries=0)
def audit(user: str) -> None:
    EXECUTED.append("audit")


@flowgen.step(name="testing.replay.email", retries=0)
def email(address: str, text: str) -> str:
    EXECUTED.append("email")
    return "sent"


@flowgen.step(name="testing.replay.email_v2", retries=0)
def email_v2(address: str, text: str) -> str:
    EXECUTED.append("email_v2")
    return "sent"


# Version 1, the code the journals were recorded with, and edits of it. Each edit keeps the
# workflow's name, as a deploy of new code would.


def onboarding_v1(user: str):
    profile = yield fetch(user)
    points = yield score(user)
    gathered = yield flowgen.all_of(score(user + "!"), flowgen.sleep("1 hour"))
    index, value = yield flowgen.any_of(flowgen.wait_for_event("confirmed"), flowgen.sleep("1 day"))
    yield email(profile["email"], f"{points}/{gathered[0]}/{index}")
    return {"points": points, "bonus": gathered[0], "confirmed": index == 0, "value": value}


def onboarding_reordered(user: str):
    points = yield score(user)
    profile = yield fetch(user)
    gathered = yield flowgen.all_of(score(user + "!"), flowgen.sleep("1 hour"))
    index, _ = yield flowgen.any_of(flowgen.wait_for_event("confirmed"), flowgen.sleep("1 day"))
    yield email(profile["email"], f"{points}/{gathered[0]}/{index}")
    return {}


def onboarding_renamed(user: str):
    profile = yield fetch(user)
    points = yield score(user)
    gathered = yield flowgen.all_of(score(user + "!"), flowgen.sleep("1 hour"))
    index, _ = yield flowgen.any_of(flowgen.wait_for_event("confirmed"), flowgen.sleep("1 day"))
    yield email_v2(profile["email"], f"{points}/{gathered[0]}/{index}")
    return {}


def onboarding_inserted(user: str):
    profile = yield fetch(user)
    yield audit(user)
    points = yield score(user)
    gathered = yield flowgen.all_of(score(user + "!"), flowgen.sleep("1 hour"))
    index, _ = yield flowgen.any_of(flowgen.wait_for_event("confirmed"), flowgen.sleep("1 day"))
    yield email(profile["email"], f"{points}/{gathered[0]}/{index}")
    return {}


def onboarding_extended(user: str):
    result = yield from onboarding_v1(user)
    yield audit(user)
    return result


def onboarding_event_renamed(user: str):
    profile = yield fetch(user)
    points = yield score(user)
    gathered = yield flowgen.all_of(score(user + "!"), flowgen.sleep("1 hour"))
    index, _ = yield flowgen.any_of(flowgen.wait_for_event("email.confirmed"), flowgen.sleep("1 day"))
    yield email(profile["email"], f"{points}/{gathered[0]}/{index}")
    return {}


def onboarding_shortened(user: str):
    profile = yield fetch(user)
    points = yield score(user)
    yield flowgen.all_of(score(user + "!"), flowgen.sleep("1 hour"))
    return {"points": points, "email": profile["email"]}


def onboarding_uses_values(user: str):
    """Unchanged commands, but asserts every replayed value is the recorded one."""
    profile = yield fetch(user)
    assert profile == {"user": user, "email": f"{user}@example.com"}
    points = yield score(user)
    assert points == len(user)
    gathered = yield flowgen.all_of(score(user + "!"), flowgen.sleep("1 hour"))
    assert gathered == [len(user) + 1, None]
    index, value = yield flowgen.any_of(flowgen.wait_for_event("confirmed"), flowgen.sleep("1 day"))
    assert (index, value) == (0, {"via": "link"})
    yield email(profile["email"], f"{points}/{gathered[0]}/{index}")
    return {}


def as_onboarding(fn: Any) -> flowgen.Workflow:
    """Wrap ``fn`` as the workflow ``testing.onboarding`` without registering it."""
    return flowgen.Workflow(fn, name="testing.onboarding")


onboarding = flowgen.workflow(name="testing.onboarding")(onboarding_v1)


@pytest.fixture
def completed_export(flowgen_runner: Runner) -> dict[str, Any]:
    run = flowgen_runner.start(onboarding, "ada", run_id="onboarding-ada")
    flowgen_runner.advance("1 hour")
    run.send_event("confirmed", {"via": "link"})
    assert run.result()["confirmed"] is True
    EXECUTED.clear()
    return flowgen_runner.export("onboarding-ada")


@pytest.fixture
def waiting_export(flowgen_runner: Runner) -> dict[str, Any]:
    run = flowgen_runner.start(onboarding, "bob", run_id="onboarding-bob")
    flowgen_runner.advance("1 hour")
    assert run.status().waiting_for == ("confirmed",)
    EXECUTED.clear()
    return flowgen_runner.export("onboarding-bob")


def test_unchanged_code_replays_a_completed_run(completed_export: dict[str, Any]) -> None:
    result = verify_replay(onboarding, completed_export)

    assert result.positions == 5
    assert result.status == "completed"
    assert result.next_command is None
    assert EXECUTED == [], "verify_replay must never run a step"


def test_replay_feeds_the_recorded_values_including_all_of_and_any_of(
    completed_export: dict[str, Any],
) -> None:
    verify_replay(as_onboarding(onboarding_uses_values), completed_export)
    assert EXECUTED == []


def test_unchanged_code_replays_an_in_flight_run(waiting_export: dict[str, Any]) -> None:
    result = verify_replay(onboarding, waiting_export)

    assert result.positions == 3
    assert result.status == "waiting"
    assert result.next_command == "any_of 'any_of(event:confirmed, sleep:sleep)'"


# Each edit of version 1 that breaks replay: (edited code, which export, the diverging position,
# a pattern the recorded command matches, the command the new code yields there).
DIVERGENCES = [
    pytest.param(
        onboarding_reordered,
        "completed_export",
        0,
        re.escape("step 'testing.replay.fetch'"),
        "step 'testing.replay.score'",
        id="reordered-steps-fail-at-the-first-moved-position",
    ),
    pytest.param(
        onboarding_renamed,
        "completed_export",
        4,
        re.escape("step 'testing.replay.email'"),
        "step 'testing.replay.email_v2'",
        id="renamed-step-fails-at-its-position",
    ),
    pytest.param(
        onboarding_inserted,
        "completed_export",
        1,
        re.escape("step 'testing.replay.score'"),
        "step 'testing.replay.audit'",
        id="inserted-step-fails-where-it-was-inserted",
    ),
    pytest.param(
        onboarding_extended,
        "completed_export",
        5,
        ".*the run completed here.*",
        "step 'testing.replay.audit'",
        id="step-appended-after-a-completed-run-fails-at-the-end",
    ),
    pytest.param(
        onboarding_event_renamed,
        "waiting_export",
        3,
        re.escape("any_of 'any_of(event:confirmed, sleep:sleep)'") + ".*",
        "any_of 'any_of(event:email.confirmed, sleep:sleep)'",
        id="changing-the-parked-command-fails",
    ),
    pytest.param(
        onboarding_shortened,
        "waiting_export",
        3,
        ".*",
        None,
        id="ending-before-the-parked-command-fails",
    ),
]


@pytest.mark.parametrize(("edited", "export_fixture", "position", "recorded", "new"), DIVERGENCES)
def test_an_incompatible_edit_fails_at_the_diverging_position(
    request: pytest.FixtureRequest,
    edited: Any,
    export_fixture: str,
    position: int,
    recorded: str,
    new: str | None,
) -> None:
    export = request.getfixturevalue(export_fixture)

    with pytest.raises(NonDeterminismError) as diverged:
        verify_replay(as_onboarding(edited), export)

    assert diverged.value.position == position
    assert re.fullmatch(recorded, diverged.value.recorded, flags=re.DOTALL), diverged.value.recorded
    assert diverged.value.new == new
    assert f"position {position}" in str(diverged.value)
    assert EXECUTED == [], "verify_replay must never run a step"


def test_ending_before_the_parked_command_says_the_code_returns(waiting_export: dict[str, Any]) -> None:
    with pytest.raises(NonDeterminismError, match="ends with a return"):
        verify_replay(as_onboarding(onboarding_shortened), waiting_export)


def test_a_step_appended_after_the_parked_position_is_fine_for_an_in_flight_run(
    waiting_export: dict[str, Any],
) -> None:
    assert verify_replay(as_onboarding(onboarding_extended), waiting_export).positions == 3


def test_verify_replay_reads_the_json_file(completed_export: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "onboarding-ada.journal.json"
    path.write_text(json.dumps(completed_export), encoding="utf-8")

    assert verify_replay(onboarding, path).positions == 5
    assert verify_replay(onboarding, str(path)).run_id == "onboarding-ada"
    with pytest.raises(NonDeterminismError):
        verify_replay(as_onboarding(onboarding_inserted), path)


def test_a_journal_of_another_workflow_is_refused(completed_export: dict[str, Any]) -> None:
    other = flowgen.Workflow(onboarding_v1, name="testing.onboarding.v2")
    with pytest.raises(flowgen.WorkflowNotFoundError, match=r"recorded by workflow 'testing\.onboarding'"):
        verify_replay(other, completed_export)


def test_a_document_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a flowgen journal export"):
        load_export({"entries": []})
    path = tmp_path / "other.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a flowgen journal export"):
        verify_replay(onboarding, path)


def test_cli_export_writes_a_file_verify_replay_accepts(tmp_path: Path) -> None:
    """Record a real run on an embedded SQLite engine, export it with `flowgen export`, verify it."""
    database = tmp_path / "runs.sqlite3"
    url = f"sqlite:///{database}"
    with flowgen.Engine(url) as engine:
        run = engine.start(onboarding, "cy", run_id="onboarding-cy")
        run.wait_for_status("waiting", timeout=30)
    output = tmp_path / "cy.journal.json"

    completed = subprocess.run(
        [sys.executable, "-m", "flowgen", "export", "onboarding-cy", "--url", url, "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )

    assert completed.returncode == 0, completed.stderr
    result = verify_replay(onboarding, output)
    assert result.run_id == "onboarding-cy"
    assert result.positions == 2
    assert result.next_command == "all_of 'all_of(step:testing.replay.score, sleep:sleep)'"
