"""A workflow catches a failing step's own error whatever the step's retry policy (issue 13, item 1).

The same workflow runs in the test Runner and on a real store (an embedded SQLite engine with
its worker threads); the error keeps its type and carries how many attempts ran
(``error.flowgen_attempts``), and the step's journal entry records the same count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flowgen
from flowgen.testing import Runner


class CardDeclined(Exception):
    """The failure a caller wants to catch by its own type."""


@flowgen.step(name="errtypes.charge_once", retries=0)
def charge_once(card: str) -> None:
    raise CardDeclined(f"card {card} declined")


@flowgen.step(name="errtypes.charge_retried", retries=flowgen.Retry(limit=2, delay=0.01, jitter=0))
def charge_retried(card: str) -> None:
    raise CardDeclined(f"card {card} declined")


@flowgen.step(name="errtypes.charge_default")
def charge_default(card: str) -> None:
    raise CardDeclined(f"card {card} declined")


STEPS = {"once": charge_once, "retried": charge_retried, "default": charge_default}
EXPECTED_ATTEMPTS = {"once": 1, "retried": 3, "default": 4}


@flowgen.workflow(name="errtypes.pay")
def pay(policy: str, card: str):
    """Charge with the step of ``policy`` and report what the ``except`` saw."""
    try:
        yield STEPS[policy](card)
    except CardDeclined as error:
        return {"caught": type(error).__name__, "message": str(error), "attempts": error.flowgen_attempts}  # type: ignore[attr-defined]
    return {"caught": None}


def _expected(policy: str) -> dict[str, Any]:
    return {"caught": "CardDeclined", "message": "card 4242 declined", "attempts": EXPECTED_ATTEMPTS[policy]}


@pytest.mark.parametrize("policy", sorted(STEPS))
def test_runner_workflow_catches_the_steps_own_error_whatever_the_policy(
    flowgen_runner: Runner, policy: str
) -> None:
    run = flowgen_runner.start(pay, policy, "4242")
    flowgen_runner.advance("10 minutes")

    assert run.result() == _expected(policy)
    entry = run.journal()[0]
    assert len(entry["attempts"]) == EXPECTED_ATTEMPTS[policy]
    assert entry["error"]["type"].endswith("CardDeclined")
    assert entry["error"]["attempts"] == EXPECTED_ATTEMPTS[policy]


@pytest.mark.parametrize("policy", ["once", "retried"])
def test_sqlite_workflow_catches_the_steps_own_error_whatever_the_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    monkeypatch.delenv("FLOWGEN_URL", raising=False)
    with flowgen.Engine(f"sqlite:///{tmp_path / 'runs.db'}", timer_interval=0.02) as engine:
        run = engine.start(pay, policy, "4242")
        assert run.result(timeout=30) == _expected(policy)
        entry = run.journal()[0]

    assert [attempt["status"] for attempt in entry["attempts"]] == ["error"] * EXPECTED_ATTEMPTS[policy]
    assert entry["error"]["attempts"] == EXPECTED_ATTEMPTS[policy]


def test_an_uncaught_step_error_fails_the_run_with_its_own_type(flowgen_runner: Runner) -> None:
    @flowgen.workflow(name="errtypes.pay_uncaught")
    def pay_uncaught(card: str):
        yield charge_retried(card)

    run = flowgen_runner.start(pay_uncaught, "4242")
    flowgen_runner.advance("10 minutes")

    with pytest.raises(flowgen.WorkflowFailedError) as failed:
        run.result()
    assert isinstance(failed.value.__cause__, CardDeclined)
    assert failed.value.__cause__.flowgen_attempts == 3  # type: ignore[attr-defined]


def test_the_removed_retries_exceeded_name_says_what_to_catch_instead() -> None:
    with pytest.raises(AttributeError, match="flowgen_attempts"):
        flowgen.StepRetriesExceededError  # noqa: B018
