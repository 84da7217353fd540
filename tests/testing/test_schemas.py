"""Schemas (pydantic models, dataclasses, attrs classes) validated and converted at start, at step
boundaries and for event payloads; bad schemas refused at declaration."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest

import flowgen
from flowgen import slots
from flowgen.decoding import decode_call
from flowgen.testing import Runner
from tests.apps import schema_apps as apps
from tests.apps.schema_apps import Address, Parcel, Payment


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    apps.CALLS.clear()


def test_arguments_results_and_events_are_converted_to_their_schemas() -> None:
    with Runner() as runner:
        run = runner.start(
            apps.checkout, {"order_id": "o1", "amount": "5"}, {"city": "Oslo", "zip": "0150"}, {"weight": 3}
        )
        run.send_event("paid", {"order_id": "o1", "amount": "10"})
        assert run.result() == {
            "doubled": ["Payment", 10],
            "label": "Oslo/3",
            "converted": ["Payment", 7],
            "paid": ["Payment", "o1", 10],
        }
    assert apps.CALLS[0] == Payment(order_id="o1", amount=5)
    assert apps.CALLS[1] == (Address("Oslo", "0150"), Parcel(3))


def test_converted_values_survive_replay_as_their_classes() -> None:
    """The Runner replays from the journal at every resume: the classes come back from it."""
    with Runner(replay=True) as runner:
        run = runner.start(
            apps.checkout, Payment(order_id="o2", amount=1), Address("Rome", "00100"), Parcel(0)
        )
        journal = runner.engine.journal(run.run_id)
        assert isinstance(journal[0]["value"], Payment)
        run.send_event("paid", Payment(order_id="o2", amount=4))
        assert run.result()["paid"] == ["Payment", "o2", 4]


def test_an_argument_that_does_not_fit_is_refused_at_start_naming_the_field_and_nothing_is_created() -> None:
    with Runner() as runner:
        with pytest.raises(flowgen.SchemaError) as refused:
            runner.start(apps.checkout, {"order_id": "o1", "amount": "five"}, Address("a", "b"), Parcel(1))
        message = str(refused.value)
        assert "argument 'payment' of workflow 'schemas.checkout'" in message
        assert "field 'amount'" in message and "'five'" in message
        with pytest.raises(flowgen.SchemaError, match=r"argument 'parcel'.*weight"):
            runner.start(apps.checkout, Payment(order_id="o", amount=1), Address("a", "b"), {"weight": -1})
        with pytest.raises(flowgen.SchemaError, match=r"argument 'address'.*field 'zip'"):
            runner.start(apps.checkout, Payment(order_id="o", amount=1), {"city": "x"}, Parcel(1))
        assert runner.runs() == []


def test_a_step_result_that_does_not_fit_fails_the_step_once_without_retries() -> None:
    with Runner() as runner:
        run = runner.start(apps.bad_step_result)
        result = run.result()
    assert result.startswith("caught: the result of step 'schemas.bad_result' does not fit Payment")
    assert "field 'amount'" in result
    assert apps.CALLS == [1], "the step ran more than once: a schema failure is not transient"


def test_an_event_payload_that_does_not_fit_raises_into_the_workflow() -> None:
    with Runner() as runner:
        run = runner.start(apps.bad_event)
        run.send_event("paid", {"order_id": "o"})
        result = run.result()
    assert result.startswith("caught: the payload of event 'paid' does not fit Payment")
    assert "field 'amount'" in result


def test_schemas_that_are_not_classes_are_refused_at_declaration() -> None:
    with pytest.raises(TypeError, match=r"the schema must be a class.*got 3"):
        flowgen.wait_for_event("paid", schema=3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"an instance; pass its class"):
        flowgen.wait_for_event("paid", schema=Payment(order_id="o", amount=1))  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"the schema must be a class.*int"):
        flowgen.wait_for_event("paid", schema=int)


class Opaque:
    """A class pydantic has no validator for."""


@dataclasses.dataclass
class Unbuildable:
    thing: Opaque


def test_an_annotation_pydantic_cannot_validate_is_refused_when_the_step_is_declared() -> None:
    def ship(box: Unbuildable) -> None:
        return None

    with pytest.raises(
        TypeError, match=r"step 'ship', parameter 'box'.*pydantic cannot build a validator for Unbuildable"
    ):
        flowgen.Step(ship, name="ship")


def test_without_pydantic_nothing_imports_it_and_dataclasses_still_convert(tmp_path: Any) -> None:
    code = """
import sys, dataclasses
sys.modules['pydantic'] = None  # as if it were not installed: `import pydantic` fails
import flowgen
from flowgen import slots
from flowgen.decoding import decode_call
from flowgen.testing import Runner

@dataclasses.dataclass
class Box:
    size: int

@flowgen.workflow(name='nopyd.w')
def w(box: Box):
    yield flowgen.now()
    return [type(box).__name__, box.size]

with Runner() as runner:
    print(runner.start(w, {'size': 3}).result())
    try:
        runner.start(w, {'width': 3})
    except flowgen.SchemaError as error:
        print('refused:', error)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "['Box', 3]"
    assert lines[1].startswith("refused: argument 'box' of workflow 'nopyd.w' does not fit Box")


def test_importing_flowgen_does_not_import_pydantic() -> None:
    code = "import sys, flowgen, flowgen.testing; print('pydantic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_schemas_apply_when_another_annotation_names_a_type_checking_only_import() -> None:
    from tests.apps import schema_type_checking as app

    with Runner() as runner:
        run = runner.start(app.pack, {"size": 3}, {"label": "l"})
        assert run.result() == ["Box", "Parcel", "Box", 6]
        with pytest.raises(flowgen.SchemaError, match=r"argument 'box' of workflow 'typecheck\.pack'"):
            runner.start(app.pack, {"width": 3}, {"label": "l"})


def test_a_start_is_the_same_run_whichever_process_converts_its_arguments(tmp_path: Any) -> None:
    """The run id's fingerprint is that of the call as given: a process that has the code (and
    converts the arguments to their schemas) and one that has not (and stores them as given)
    agree on what "the same call" is, so a retried start is never a conflict."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    call = ({"order_id": "o", "amount": "5"}, {"city": "c", "zip": "z"}, {"weight": 1})
    with flowgen.Engine(url, start_workers=False) as with_code:
        with_code.start(apps.checkout, *call, run_id="same")
    with flowgen.Engine(url, start_workers=False, registry=flowgen.Registry()) as without_code:
        assert without_code.start("schemas.checkout", *call, run_id="same").run_id == "same"
        with pytest.raises(flowgen.RunIdConflictError):
            without_code.start("schemas.checkout", {"order_id": "o", "amount": "6"}, *call[1:], run_id="same")
    with flowgen.Engine(url, start_workers=False) as with_code:
        assert with_code.start(apps.checkout, *call, run_id="same").run_id == "same"
        record = with_code.store.get_run("same")
        assert record is not None
        args, _ = decode_call(with_code.serializer, record.args, run_id="same", slot=slots.ARGS)
        assert isinstance(args[0], Payment) and args[0].amount == 5, "stored converted"
