"""Pydantic models in tagged JSON: they round-trip as their class, and a forged tag cannot build
anything but an allowed model."""

from __future__ import annotations

import json

import pytest

import flowgen
from flowgen.tagged import dumps_json, loads_json
from tests.apps.schema_apps import Address, Payment


def test_a_model_round_trips_as_its_class_with_its_fields_validated() -> None:
    text = dumps_json({"p": Payment(order_id="o", amount=3)})
    assert json.loads(text)["p"]["__flowgen__"] == "pydantic"
    back = loads_json(text)["p"]
    assert isinstance(back, Payment) and back == Payment(order_id="o", amount=3)


def test_a_forged_model_tag_naming_a_class_that_is_not_a_model_is_refused() -> None:
    forged = json.dumps({"__flowgen__": "pydantic", "cls": "tests.apps.schema_apps:Address", "v": {}})
    with pytest.raises(flowgen.SerializationError, match="is not an pydantic class"):
        loads_json(forged)
    assert Address  # the dataclass is allowed as a dataclass, not as a model


def test_a_forged_model_with_fields_that_do_not_validate_is_a_serialization_error() -> None:
    forged = json.dumps(
        {"__flowgen__": "pydantic", "cls": "tests.apps.schema_apps:Payment", "v": {"order_id": "o"}}
    )
    with pytest.raises(flowgen.SerializationError):
        loads_json(forged)


def test_a_model_of_a_module_that_is_not_allowed_is_refused_when_encoding() -> None:
    import pydantic

    class Stranger(pydantic.BaseModel):
        x: int

    Stranger.__module__ = "somewhere_else_entirely"
    with pytest.raises(flowgen.SerializationError):
        dumps_json(Stranger(x=1))
