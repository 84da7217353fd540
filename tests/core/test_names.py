"""Names users choose (run ids, workflow and step names, queues, event types) are checked whole.

Patterns ending in ``$`` accept a trailing newline; ``"x\\n"`` must not be a second run next to
``"x"``. Workflow names may not contain ``:``: they are part of Redis index key names.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

import flowgen
from flowgen.decorators import Registry, Step, Workflow


def _flow() -> Generator[Any, Any, int]:
    yield flowgen.sleep(1)
    return 1


@pytest.fixture
def engine() -> Iterator[flowgen.Engine]:
    registry = Registry()
    registry.add_workflow(Workflow(_flow, name="names.flow"))
    with flowgen.Engine("memory://", registry=registry, start_workers=False) as engine:
        yield engine


@pytest.mark.parametrize("run_id", ["x\n", "\nx", "x\r\n", "x y", "", "x" * 201, "a{b}"])
def test_a_run_id_is_refused_unless_the_whole_of_it_is_acceptable(
    engine: flowgen.Engine, run_id: str
) -> None:
    with pytest.raises(flowgen.InvalidRunIdError, match="invalid run id"):
        engine.start("names.flow", run_id=run_id)


def test_a_run_id_with_a_trailing_newline_is_not_a_second_run(engine: flowgen.Engine) -> None:
    engine.start("names.flow", run_id="x")
    with pytest.raises(flowgen.InvalidRunIdError):
        engine.start("names.flow", run_id="x\n")
    assert [info.run_id for info in engine.runs()] == ["x"]


@pytest.mark.parametrize("name", ["flow\n", "a b", "", "x" * 201, "a:status:completed", "orders:v2"])
def test_a_workflow_name_is_refused_at_declaration(name: str) -> None:
    with pytest.raises(flowgen.InvalidNameError, match="invalid workflow name"):
        Workflow(_flow, name=name)


def test_a_workflow_name_with_a_colon_is_refused_saying_why() -> None:
    with pytest.raises(flowgen.RegistrationError, match="':' separates the parts of flowgen's Redis keys"):
        flowgen.workflow(name="wf:status:completed")(_flow)


@pytest.mark.parametrize("name", ["names.flow\n", "wf:status:completed", ""])
def test_a_workflow_name_given_as_text_is_checked_wherever_it_is_accepted(
    engine: flowgen.Engine, name: str
) -> None:
    with pytest.raises((flowgen.InvalidNameError, TypeError)):
        engine.start(name, run_id="r")
    with pytest.raises((flowgen.InvalidNameError, TypeError)):
        engine.start_many(name, [((), None, "r")])
    with pytest.raises((flowgen.InvalidNameError, TypeError)):
        engine.runs(workflow=name)
    with pytest.raises((flowgen.InvalidNameError, TypeError)):
        flowgen.child(name)
    with pytest.raises((flowgen.InvalidNameError, TypeError)):
        flowgen.start_child(name)
    assert engine.runs() == []


@pytest.mark.parametrize("name", ["step\n", "a b", "", "x" * 201])
def test_a_step_name_is_refused_at_declaration(name: str) -> None:
    with pytest.raises(flowgen.InvalidNameError, match="invalid step name"):
        Step(len, name=name)


def test_step_names_may_keep_colons_they_are_in_no_key_name() -> None:
    assert Step(len, name="payments:charge").name == "payments:charge"


@pytest.mark.parametrize("queue", ["slow\n", "has space", "", "9lives", "slow.DQ", "slow.XQ", "x" * 201])
def test_a_step_queue_is_refused_at_declaration(queue: str) -> None:
    with pytest.raises(flowgen.InvalidNameError, match="invalid queue name"):
        Step(len, name="queued", queue=queue)


@pytest.mark.parametrize("queue", ["slow\n", "has space", "flowgen.DQ"])
def test_an_engine_queue_is_refused_at_construction(queue: str) -> None:
    with pytest.raises(flowgen.InvalidNameError, match="invalid queue name"):
        flowgen.Engine("memory://", queue=queue, start_workers=False)


@pytest.mark.parametrize("event_type", ["", None, 3])
def test_an_event_type_must_be_a_non_empty_string(engine: flowgen.Engine, event_type: Any) -> None:
    run = engine.start("names.flow", run_id="events")
    with pytest.raises(ValueError, match="event type must be a non-empty string"):
        run.send_event(event_type)
    with pytest.raises(ValueError, match="event type must be a non-empty string"):
        flowgen.wait_for_event(event_type)
