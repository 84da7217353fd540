"""Arguments bound to the workflow's signature before anything is stored: ``start``,
``start_many``, ``child``, ``start_child`` (the CLI: tests/cli/test_cli_versioning.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flowgen
from flowgen.testing import Runner
from tests.apps import schema_apps as apps


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((), {}, "missing a required argument: 'order_id'"),
        (("o", 1, 2), {}, "too many positional arguments"),
        (("o",), {"colour": "red"}, "unexpected keyword argument 'colour'"),
        (("o", 1), {"amount": 2}, "multiple values for argument 'amount'"),
    ],
)
def test_start_refuses_arguments_the_signature_cannot_take_and_creates_nothing(
    args: tuple[Any, ...], kwargs: dict[str, Any], named: str
) -> None:
    with Runner() as runner:
        with pytest.raises(TypeError) as refused:
            runner.start(apps.plain, *args, **kwargs)
        message = str(refused.value)
        assert message.startswith("workflow 'schemas.plain' cannot be called with (")
        assert named in message
        assert (
            "its signature is schemas.plain(order_id: 'str', amount: 'int' = 1, *, note: 'str' = '')"
            in message
        )
        assert runner.runs() == []


def test_start_by_name_binds_when_this_process_knows_the_code() -> None:
    with Runner() as runner:
        with pytest.raises(TypeError, match="missing a required argument: 'order_id'"):
            runner.start("schemas.plain")
        assert runner.runs() == []
        assert runner.start("schemas.plain", "o", note="n").status().status == "waiting"


def test_start_keeps_the_form_of_the_arguments_so_a_restart_of_the_run_id_is_the_same_run() -> None:
    with Runner() as runner:
        first = runner.start(apps.plain, "o", amount=2, run_id="same")
        again = runner.start(apps.plain, "o", amount=2, run_id="same")
        assert first.run_id == again.run_id
        with pytest.raises(flowgen.RunIdConflictError):
            runner.start(apps.plain, "o", 2, run_id="same")


def test_start_many_refuses_the_whole_batch_if_one_call_does_not_fit() -> None:
    with Runner() as runner:
        with pytest.raises(TypeError, match=r"cannot be called with \(\).*'order_id'"):
            runner.start_many(apps.plain, [(("a",), None, "r1"), ((), None, "r2"), (("c",), None, "r3")])
        assert runner.runs() == []


@pytest.mark.parametrize(
    ("how", "named"),
    [("child", "too many positional arguments"), ("start_child", "unexpected keyword argument 'nope'")],
)
def test_child_and_start_child_raise_into_the_parent_before_any_child_is_created(
    how: str, named: str
) -> None:
    with Runner() as runner:
        run = runner.start(apps.parent, how)
        result = run.result()
        assert result.startswith("caught: workflow 'schemas.plain' cannot be called with")
        assert named in result
        assert [info.workflow for info in runner.runs()] == ["schemas.parent"]


def test_an_embedded_engine_refuses_too_and_writes_nothing(tmp_path: Path) -> None:
    with flowgen.Engine(f"sqlite:///{tmp_path / 'runs.db'}", start_workers=False) as engine:
        with pytest.raises(TypeError, match="missing a required argument"):
            engine.start(apps.plain)
        assert engine.runs() == []


def test_continue_as_new_with_arguments_the_workflow_cannot_take_fails_the_run_naming_them() -> None:
    def counts(n: int) -> Any:
        yield flowgen.now()
        if n == 0:
            yield flowgen.continue_as_new(1, 2, 3)
        return n

    registry = flowgen.Registry()
    registry.add_workflow(flowgen.Workflow(counts, name="bound.counts"))
    with Runner(registry=registry) as runner:
        run = runner.start("bound.counts", 0)
        with pytest.raises(flowgen.WorkflowFailedError) as failure:
            run.result()
        error = failure.value.__cause__
        assert isinstance(error, TypeError)
        assert (
            "workflow 'bound.counts' cannot be called with (1, 2, 3): too many positional arguments"
            in str(error)
        )
        assert run.status().generation == 0
