"""Runner tests of examples/fan_out.py."""

from __future__ import annotations

import pytest

import flowgen
from examples.fan_out import album, publish, resize, thumbnails
from flowgen.testing import Runner, call


def test_the_album_gathers_every_childs_files_in_order(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(album, "trip", ["a.png", "b.png"])
    assert run.result() == {
        "url": "https://example.com/trip",
        "files": ["a-320.jpg", "a-1280.jpg", "b-320.jpg", "b-1280.jpg"],
    }
    children = flowgen_runner.runs(workflow=thumbnails)
    assert len(children) == 2 and {child.parent for child in children} == {run.run_id}
    assert len(flowgen_runner.calls(resize)) == 4
    assert flowgen_runner.calls(publish) == [
        call(publish, "trip", ["a-320.jpg", "a-1280.jpg", "b-320.jpg", "b-1280.jpg"])
    ]


def test_a_failing_child_fails_the_parent_with_child_workflow_error(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(resize, raises=flowgen.NonRetryableError("corrupt image"))
    run = flowgen_runner.start(album, "broken", ["x.png"])
    with pytest.raises(flowgen.WorkflowFailedError) as failure:
        run.result()
    error = failure.value.__cause__
    assert isinstance(error, flowgen.ChildWorkflowError)
    assert "corrupt image" in str(error.__cause__)
    assert flowgen_runner.calls(publish) == []
