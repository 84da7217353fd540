"""The pure rules of patches: what ``patched``/``deprecate_patch`` give, and when they take a position."""

from __future__ import annotations

from typing import Any

import pytest

import flowgen
from flowgen.interpreter import Complete, Execute, Outcome, Recorded, Replayer
from flowgen.patches import PATCH_KIND, marker_value


@pytest.mark.parametrize(
    ("deprecated", "recorded", "expected"),
    [
        (False, None, None),  # first time here: journal the marker (True)
        (False, (PATCH_KIND, "p"), None),  # replay the recorded marker
        (False, ("step", "s"), False),  # the run passed here without it: the old branch
        (False, (PATCH_KIND, "other"), False),
        (True, None, True),  # deprecated: nothing recorded for new runs
        (True, (PATCH_KIND, "p"), None),  # replay past a recorded marker
        (True, ("step", "s"), True),
    ],
)
def test_marker_value(deprecated: bool, recorded: tuple[str, str] | None, expected: bool | None) -> None:
    assert marker_value("p", deprecated, recorded) is expected


def _workflow() -> Any:
    new = yield flowgen.patched("p")
    yield flowgen.now()
    return new


def test_a_replayed_journal_without_the_marker_takes_the_old_branch_without_a_position() -> None:
    replayer = Replayer(_workflow())
    decision = replayer.replay([Recorded(0, "value", "now", Outcome.success(1))])
    assert isinstance(decision, Complete) and decision.output is False


def test_a_new_run_executes_the_marker_at_position_zero() -> None:
    replayer = Replayer(_workflow())
    decision = replayer.start()
    assert isinstance(decision, Execute) and decision.position == 0
    assert decision.command == flowgen.patched("p")


def test_a_run_parked_at_the_patch_position_takes_the_old_branch() -> None:
    replayer = Replayer(_workflow(), parked=(0, "value", "now"))
    decision = replayer.start()
    assert isinstance(decision, Execute) and decision.position == 0
    assert decision.command == flowgen.now()
