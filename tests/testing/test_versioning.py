"""The change stories of docs/versioning.md on the Runner: an in-flight run under the old code,
the code swapped (``Runner.deploy``), the run resumed; plus what a new run does under the new code.

The same stories run on real Redis workers in tests/e2e/test_versioning_workers.py.
"""

from __future__ import annotations

from typing import Any

import pytest

import flowgen
from flowgen.testing import Runner
from tests.apps import versioning_v1 as v1
from tests.apps import versioning_v2 as v2


def _runner(version: str = "1") -> Runner:
    registry = flowgen.Registry()
    for workflow in v1.WORKFLOWS:
        registry.add_workflow(workflow)
    return Runner(registry=registry, version=version)


def _signatures(runner: Runner, run_id: str) -> list[str]:
    return [f"{entry['kind']}:{entry['name']}" for entry in runner.engine.journal(run_id)]


# (workflow name, the old run's journal after resuming, its result, a new run's journal, its result)
STORIES: dict[str, tuple[list[str], Any, list[str], Any]] = {
    "versioning.add_step": (
        ["step:versioning.reserve", "event:go", "step:versioning.ship"],
        ["reserved 1", "shipped 1", None],
        [
            "step:versioning.reserve",
            "patch:audit-before-wait",
            "step:versioning.audit",
            "event:go",
            "step:versioning.ship",
        ],
        ["reserved 2", "shipped 2", "audited 2"],
    ),
    "versioning.remove_step": (
        ["step:versioning.reserve", "step:versioning.audit", "event:go", "step:versioning.ship"],
        ["reserved 1", "audited 1", "shipped 1"],
        ["step:versioning.reserve", "patch:drop-audit", "event:go", "step:versioning.ship"],
        ["reserved 2", None, "shipped 2"],
    ),
    "versioning.change_args": (
        ["step:versioning.charge", "event:go"],
        "charged 1 USD",
        ["step:versioning.charge", "event:go"],
        "charged 2 EUR",
    ),
    "versioning.rename": (
        ["step:versioning.send_mail", "event:go", "step:versioning.send_mail"],
        ["mail 1", "mail 2"],
        ["step:versioning.send_mail", "event:go", "step:versioning.send_mail"],
        ["mail 2", "mail 3"],
    ),
}


@pytest.mark.parametrize("name", sorted(STORIES))
def test_an_in_flight_run_resumes_under_the_changed_code(name: str) -> None:
    old_journal, old_result, new_journal, new_result = STORIES[name]
    with _runner() as runner:
        old = runner.start(name, 1, run_id="old")
        assert old.status().status == "waiting"
        assert old.status().version == "1"

        runner.deploy(v2.BY_NAME[name], version="2")
        new = runner.start(name, 2, run_id="new")
        assert new.status().version == "2"
        old.send_event("go")
        new.send_event("go")

        assert old.result() == old_result
        assert _signatures(runner, "old") == old_journal
        assert old.status().version == "1"
        assert new.result() == new_result
        assert _signatures(runner, "new") == new_journal


def test_without_the_patch_the_added_step_breaks_the_in_flight_run() -> None:
    """The counter-example: the same change without ``patched`` fails the old run at position 1."""

    def unpatched(n: int) -> Any:
        reserved = yield from v2.reserve(n)
        audited = yield from v2.audit(n)
        yield flowgen.wait_for_event("go")
        return [reserved, audited]

    with _runner() as runner:
        old = runner.start("versioning.add_step", 1)
        runner.deploy(flowgen.Workflow(unpatched, name="versioning.add_step"))
        old.send_event("go")
        with pytest.raises(flowgen.WorkflowFailedError) as failure:
            old.result()
        error = failure.value.__cause__
        assert isinstance(error, flowgen.NonDeterminismError) and error.position == 1


def test_deprecate_patch_replays_runs_that_recorded_the_marker_and_records_nothing_new() -> None:
    with _runner() as runner:
        runner.deploy(v2.BY_NAME["versioning.add_step"])
        marked = runner.start("versioning.add_step", 1, run_id="marked")
        assert "patch:audit-before-wait" in _signatures(runner, "marked")

        runner.deploy(v2.ADD_STEP_V3, version="3")
        fresh = runner.start("versioning.add_step", 2, run_id="fresh")
        marked.send_event("go")
        fresh.send_event("go")

        assert marked.result() == ["reserved 1", "shipped 1", "audited 1"]
        assert fresh.result() == ["reserved 2", "shipped 2", "audited 2"]
        assert "patch:audit-before-wait" not in _signatures(runner, "fresh")
        assert _signatures(runner, "fresh")[1] == "step:versioning.audit"


def test_a_run_parked_exactly_where_the_patch_goes_takes_the_old_branch() -> None:
    """The open entry counts as passed: a run waiting at position 1 must not run the new step."""

    def v1_waits_first(n: int) -> Any:
        yield flowgen.wait_for_event("go")
        return (yield v2.ship(n))

    def v2_audits_first(n: int) -> Any:
        if (yield flowgen.patched("audit-first")):
            yield v2.audit(n)
        yield flowgen.wait_for_event("go")
        return (yield v2.ship(n))

    registry = flowgen.Registry()
    registry.add_workflow(flowgen.Workflow(v1_waits_first, name="versioning.parked"))
    with Runner(registry=registry) as runner:
        old = runner.start("versioning.parked", 1, run_id="old")
        runner.deploy(flowgen.Workflow(v2_audits_first, name="versioning.parked"))
        old.send_event("go")
        assert old.result() == "shipped 1"
        assert _signatures(runner, "old") == ["event:go", "step:versioning.ship"]


def test_a_patch_id_used_twice_on_one_path_fails_the_run_naming_it() -> None:
    def twice(n: int) -> Any:
        yield flowgen.patched("same")
        yield flowgen.patched("same")
        return n

    registry = flowgen.Registry()
    registry.add_workflow(flowgen.Workflow(twice, name="versioning.twice"))
    with Runner(registry=registry) as runner:
        run = runner.start("versioning.twice", 1)
        with pytest.raises(flowgen.WorkflowFailedError) as failure:
            run.result()
        assert isinstance(failure.value.__cause__, flowgen.WorkflowYieldError)
        assert "'same' is used a second time" in str(failure.value.__cause__)


@pytest.mark.parametrize("bad", [3, None, b"id", ["x"]])
def test_a_patch_id_that_is_not_a_string_is_refused_naming_it(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"patch id must be a str"):
        flowgen.patched(bad)
    with pytest.raises(TypeError, match=r"patch id must be a str"):
        flowgen.deprecate_patch(bad)


@pytest.mark.parametrize("bad", ["", " x", "a\nb", "x" * 201])
def test_an_unusable_patch_id_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="patch id"):
        flowgen.patched(bad)


def test_verify_replay_understands_patches() -> None:
    """An export of a run that predates a patch, and one that recorded it, both verify under v2."""
    from flowgen.testing import verify_replay

    with _runner() as runner:
        old = runner.start("versioning.add_step", 1, run_id="old")
        old_export = runner.engine.export(old.run_id)
        runner.deploy(v2.BY_NAME["versioning.add_step"])
        new = runner.start("versioning.add_step", 2, run_id="new")
        new_export = runner.engine.export(new.run_id)

    patched_code = v2.BY_NAME["versioning.add_step"]
    assert verify_replay(patched_code, old_export).next_command == "event 'go'"
    assert verify_replay(patched_code, new_export).positions == 3
    assert verify_replay(v2.ADD_STEP_V3, new_export).positions == 3
    with pytest.raises(flowgen.NonDeterminismError) as divergence:
        verify_replay(v2.ADD_STEP_V3, old_export)
    assert divergence.value.position == 1
