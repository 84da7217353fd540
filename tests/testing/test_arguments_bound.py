"""Arguments bound to the workflow's signature before anything is stored: ``start``,
``start_many``, ``child``, ``start_child`` (the CLI: tests/cli/test_cli_versioning.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flowgen
from flowgen import slots
from flowgen.decoding import decode_call
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


@pytest.mark.parametrize(
    ("how", "named"),
    [
        (
            "child",
            "caught TypeError: workflow 'schemas.plain' cannot be called with ('o', 1, 2, 3): too many",
        ),
        ("start_child", "caught TypeError: workflow 'schemas.plain' cannot be called with ('o', nope=1)"),
        (
            "in_all_of",
            "caught TypeError: workflow 'schemas.plain' cannot be called with (): missing a required",
        ),
        (
            "schema",
            "caught SchemaError: argument 'payment' of workflow 'schemas.checkout' does not fit Payment",
        ),
    ],
)
def test_a_child_started_by_name_is_bound_where_its_code_is_known_and_the_refusal_is_journaled(
    how: str, named: str
) -> None:
    with Runner() as runner:
        run = runner.start(apps.parent_by_name, how)
        runner.advance(2)
        assert run.result().startswith(named)
        assert [info.workflow for info in runner.runs()] == ["schemas.parent_by_name"]
        (entry,) = run.journal()
        assert entry["ok"] is False and entry["error"]["message"] in named + run.result()


def test_the_refusal_of_a_child_started_by_name_is_replayed_from_the_journal_after_a_deploy() -> None:
    """A deploy where the call fits does not change what the parent's journal says happened."""

    def narrow(a: int) -> Any:
        yield flowgen.now()
        return a

    def wide(a: int, b: int = 0) -> Any:
        yield flowgen.now()
        return a + b

    def parent() -> Any:
        try:
            outcome = yield flowgen.child("bound.child", 1, 2)
        except TypeError as error:
            outcome = f"refused: {error}"
        yield flowgen.wait_for_event("go")
        return outcome

    registry = flowgen.Registry()
    registry.add_workflow(flowgen.Workflow(narrow, name="bound.child"))
    registry.add_workflow(flowgen.Workflow(parent, name="bound.parent"))
    with Runner(registry=registry) as runner:  # replay=True: every resume replays the journal
        run = runner.start("bound.parent")
        assert run.status().status == "waiting"
        runner.deploy(flowgen.Workflow(wide, name="bound.child"))
        run.send_event("go")
        assert run.result().startswith(
            "refused: workflow 'bound.child' cannot be called with (1, 2): too many positional arguments"
        )
        assert [info.workflow for info in runner.runs()] == ["bound.parent"]
        again = runner.start("bound.parent")  # a new run under the new code starts the child
        again.send_event("go")
        assert again.result() == 3


def test_a_child_started_by_name_with_fitting_arguments_runs() -> None:
    with Runner() as runner:
        run = runner.start(apps.parent_by_name, "o-7")
        runner.advance(2)
        assert run.result() == "o-7/2/"
        assert sorted(info.workflow for info in runner.runs()) == ["schemas.parent_by_name", "schemas.plain"]


def test_a_child_started_by_name_is_stored_with_its_arguments_as_given_not_converted() -> None:
    """Binding only checks: what is stored (and fingerprinted) does not depend on the process."""
    with Runner() as runner:
        child_id = runner.start(apps.parent_by_name, "fits").result()
        record = runner.engine.store.get_run(child_id)
        assert record is not None and record.workflow == "schemas.checkout"
        args, _ = decode_call(runner.engine.serializer, record.args, run_id=child_id, slot=slots.ARGS)
        assert args[0] == apps.PAYMENT and type(args[0]) is dict
        assert runner.get(child_id).status().status == "waiting"  # its code converted them


def test_a_run_stored_unchecked_by_a_process_without_its_code_fails_naming_the_parameter(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with flowgen.Engine(url, start_workers=False, registry=flowgen.Registry()) as client:
        client.start("schemas.plain", colour="red", run_id="unchecked")  # this process knows no code
    # The global registry: tests.apps.schema_apps is imported.
    with flowgen.Engine(url) as worker, pytest.raises(flowgen.WorkflowFailedError) as failed:
        worker.get("unchecked").result(timeout=60)
    message = str(failed.value.__cause__)
    assert isinstance(failed.value.__cause__, TypeError)
    assert message.startswith("workflow 'schemas.plain' cannot be called with (colour='red'): missing a")
