"""The code version each run records (``RunInfo.version``): the engine's, the package's, or unset."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

import flowgen
from flowgen.testing import Runner
from flowgen.versions import code_version, package_version, recorded_version


def _child(n: int) -> Any:
    yield flowgen.now()
    return n


def _parent(n: int) -> Any:
    value = yield flowgen.child("versions.child", n, run_id="the-child")
    if n < 2:
        yield flowgen.continue_as_new(n + 1)
    return value


def _runner(**options: Any) -> Runner:
    registry = flowgen.Registry()
    registry.add_workflow(flowgen.Workflow(_child, name="versions.child"))
    registry.add_workflow(flowgen.Workflow(_parent, name="versions.parent"))
    return Runner(registry=registry, **options)


def test_runs_children_and_new_generations_record_the_engine_version() -> None:
    with _runner(version="7.1") as runner:
        run = runner.start("versions.parent", 2)
        assert run.result() == 2
        assert run.status().version == "7.1"
        assert runner.get("the-child").status().version == "7.1"


def test_without_a_version_a_run_records_none_when_no_package_holds_the_workflow() -> None:
    with _runner() as runner:
        run = runner.start("versions.parent", 2)
        assert run.status().version is None


def test_the_default_is_the_version_of_the_workflows_package() -> None:
    installed = flowgen.__version__  # the distribution is named dramatiq-flowgen: read __version__
    assert package_version("flowgen.anything") == installed
    assert package_version("attrs.validators") == importlib.metadata.version("attrs")
    assert package_version("surely_not_an_installed_package_18") is None
    workflow = flowgen.Workflow(_child, name="versions.packaged")
    workflow.fn.__module__ = "flowgen.examples_of_a_package"
    try:
        assert code_version(None, workflow) == installed
        assert code_version("given", workflow) == "given"
        with Runner(registry=flowgen.Registry()) as runner:
            assert runner.start(workflow, 1).status().version == installed
    finally:
        workflow.fn.__module__ = __name__


def test_restarting_a_run_id_under_another_version_is_the_same_run_not_a_conflict() -> None:
    with _runner(version="1") as runner:
        first = runner.start("versions.child", 5, run_id="r")
        runner.deploy(version="2")
        again = runner.start("versions.child", 5, run_id="r")
        assert again.run_id == first.run_id and again.status().version == "1"


@pytest.mark.parametrize("bad", ["", 3, "x" * 101, "a\nb"])
def test_a_version_that_cannot_be_recorded_is_refused(bad: Any) -> None:
    with pytest.raises(flowgen.ConfigurationError, match="version must be a str"):
        flowgen.Engine("memory://", version=bad)


def test_the_version_is_read_from_sealed_and_plain_calls() -> None:
    assert recorded_version('{"args":[],"kwargs":{},"version":"3"}') == "3"
    assert recorded_version('!json1:abc:{"args":[],"kwargs":{},"version":"4"}') == "4"
    assert recorded_version('{"args":[],"kwargs":{}}') is None
    assert recorded_version("not json") is None
    with Runner(registry=flowgen.Registry(), secret_key="k" * 32, version="5") as runner:
        run = runner.start(flowgen.Workflow(_child, name="versions.sealed"), 1)
        assert run.status().version == "5"


def test_the_version_of_a_pickled_call_is_read_through_the_serializer() -> None:
    with Runner(registry=flowgen.Registry(), serializer="pickle", secret_key="k" * 32, version="6") as runner:
        run = runner.start(flowgen.Workflow(_child, name="versions.pickled"), 1)
        assert runner.store.get_run(run.run_id).args.startswith("!pickle")  # type: ignore[union-attr]
        assert run.status().version == "6"


def test_a_child_started_by_name_records_the_version_of_its_package_where_its_code_is_known() -> None:
    installed = flowgen.__version__
    child = flowgen.Workflow(_child, name="versions.child")
    child.fn.__module__ = "flowgen.examples_of_a_package"
    try:
        registry = flowgen.Registry()
        registry.add_workflow(child)
        registry.add_workflow(flowgen.Workflow(_parent, name="versions.parent"))
        with Runner(registry=registry) as runner:
            runner.start("versions.parent", 2).result()
            assert runner.get("the-child").status().version == installed
    finally:
        child.fn.__module__ = __name__
