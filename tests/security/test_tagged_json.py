"""Attacks on the tagged JSON encoding: client data that impersonates flowgen's types.

Plain dicts holding the tag key must come back exactly as sent; decoding must never import a
module or build a class outside the allow-list; a malformed tagged value must be a
``SerializationError`` naming where it was, never another exception.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

import flowgen
from flowgen.serialization import Serializer, error_record, rebuild_error
from tests.security import outside

CANARY = "tests.security.canary"


def roundtrip(value: Any, serializer: Serializer | None = None) -> Any:
    serializer = serializer or Serializer()
    text = serializer.encode(value, run_id="r", slot="3", what="a value")
    return serializer.decode(text, run_id="r", slot="3")


IMPERSONATIONS = [
    {"__flowgen__": "set", "v": [1, 2]},
    {"__flowgen__": "datetime", "v": "2026-01-01T00:00:00"},
    {"__flowgen__": "decimal", "v": "x"},
    {"__flowgen__": "exception", "v": "boom"},
    {"__flowgen__": "timedelta", "v": "soon"},
    {"__flowgen__": "enum", "v": "dark", "cls": f"{CANARY}:Shade"},
    {"__flowgen__": "no-such-tag"},
    {"__flowgen__": None, "v": 1},
    {"a": [{"__flowgen__": "uuid", "v": "12345678-1234-5678-1234-567812345678"}]},
    {"body": {"__flowgen__": "bytes", "v": "AAAA", "extra": True}},
    [{"__flowgen__": "dict", "v": [["k", 1]]}],
]


@pytest.mark.parametrize("value", IMPERSONATIONS, ids=[str(i) for i in range(len(IMPERSONATIONS))])
def test_user_dicts_holding_the_tag_key_round_trip_exactly(value: Any) -> None:
    assert roundtrip(value) == value
    assert CANARY not in sys.modules


def test_tag_key_dicts_inside_rich_values_round_trip_exactly() -> None:
    value = {
        "when": datetime(2026, 1, 2, tzinfo=timezone.utc),
        "tags": {"__flowgen__"},
        "parcel": [outside.Registered(label="__flowgen__")],
        "nested": {"__flowgen__": {"__flowgen__": "set", "v": []}},
    }
    flowgen.register_type(outside.Registered)
    assert roundtrip(value) == value


def test_int_keys_round_trip_as_ints() -> None:
    value = {1: "one", 2: {3: [4]}, "s": {None: 0, True: 1, 2.5: 2}}
    back = roundtrip(value)
    assert back == value
    assert [type(key) for key in back] == [int, int, str]
    assert list(back["s"]) == [None, True, 2.5]


def test_rich_keys_round_trip() -> None:
    key = UUID("12345678-1234-5678-1234-567812345678")
    value = {key: 1, Decimal("1.5"): 2, outside.Size.SMALL: 3}
    flowgen.register_type(outside.Size)
    assert roundtrip(value) == value


def test_tuple_keys_are_refused_at_encode_time_naming_the_key() -> None:
    with pytest.raises(flowgen.SerializationError, match=r"\(1, 2\)"):
        Serializer().encode({(1, 2): "x"}, run_id="r", slot="0", what="the result of step 's'")


def _tagged_exception(type_path: str) -> dict[str, Any]:
    return {
        "__flowgen__": "exception",
        "v": {"type": type_path, "message": "boom", "args": ["boom"], "traceback": ""},
    }


FORGED_IMPORTS = {
    "exception": _tagged_exception(f"{CANARY}:Boom"),
    "enum": {"__flowgen__": "enum", "v": "dark", "cls": f"{CANARY}:Shade"},
    "dataclass": {"__flowgen__": "dataclass", "v": {"name": "x"}, "cls": f"{CANARY}:Gadget"},
    "attrs": {"__flowgen__": "attrs", "v": {"name": "x"}, "cls": f"{CANARY}:Gadget"},
}


@pytest.mark.parametrize("kind", list(FORGED_IMPORTS))
def test_decoding_imports_no_module_outside_the_allow_list(kind: str) -> None:
    import json

    assert CANARY not in sys.modules
    text = json.dumps(FORGED_IMPORTS[kind])
    try:
        value = Serializer().decode(text, run_id="r", slot="3")
    except flowgen.SerializationError:
        value = None
    assert CANARY not in sys.modules, "decoding imported a module named by the data"
    if kind == "exception":
        assert isinstance(value, flowgen.StepFailedError)
        assert value.type_name == f"{CANARY}.Boom"


def test_a_forged_error_record_imports_nothing() -> None:
    rebuilt = rebuild_error({"type": f"{CANARY}:Boom", "message": "m", "args": ["m"], "traceback": ""})
    assert isinstance(rebuilt, flowgen.StepFailedError)
    assert CANARY not in sys.modules


def test_an_allowed_module_cannot_be_used_to_reach_other_classes() -> None:
    # tests.security.apps registers workflows, so its own classes are allowed; a path that walks
    # from it to a class of another module is not.
    import json

    forged = _tagged_exception("tests.security.apps:flowgen.errors.StepFailedError")
    rebuilt = Serializer().decode(json.dumps(forged), run_id="r", slot="3")
    assert type(rebuilt) is flowgen.StepFailedError
    assert rebuilt.type_name == "tests.security.apps.flowgen.errors.StepFailedError"


MALFORMED = {
    "decimal": '{"__flowgen__": "decimal", "v": "x"}',
    "exception with a string": '{"__flowgen__": "exception", "v": "boom"}',
    "exception with a bad type": '{"__flowgen__": "exception", "v": {"type": 5, "message": []}}',
    "timedelta with a string": '{"__flowgen__": "timedelta", "v": "soon"}',
    "timedelta too large": '{"__flowgen__": "timedelta", "v": [1e20, 0, 0]}',
    "datetime with a number": '{"__flowgen__": "datetime", "v": 5}',
    "uuid": '{"__flowgen__": "uuid", "v": "zz"}',
    "bytes": '{"__flowgen__": "bytes", "v": "!!"}',
    "set of a number": '{"__flowgen__": "set", "v": 5}',
    "set of lists": '{"__flowgen__": "set", "v": [[1]]}',
    "enum without a class": '{"__flowgen__": "enum", "v": 1}',
    "dataclass of a number": '{"__flowgen__": "dataclass", "v": 1, "cls": "tests.security.apps:Nope"}',
    "unknown tag": '{"__flowgen__": "teapot", "v": 1}',
    "no value": '{"__flowgen__": "set"}',
    "dict of a number": '{"__flowgen__": "dict", "v": 3}',
    "dict with a list key": '{"__flowgen__": "dict", "v": [[[1], 2]]}',
    "not JSON": "{nope",
}


@pytest.mark.parametrize("text", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_tagged_values_raise_serialization_error_naming_the_position(text: str) -> None:
    with pytest.raises(flowgen.SerializationError) as caught:
        Serializer().decode(text, run_id="run-7", slot="g0/3")
    assert "position 3" in str(caught.value) and "run-7" in str(caught.value)


def test_a_class_outside_the_allow_list_is_refused_at_encode_time_with_the_fix() -> None:
    with pytest.raises(flowgen.SerializationError) as caught:
        Serializer().encode(outside.Parcel(3), run_id="r", slot="0", what="the result of step 's'")
    message = str(caught.value)
    assert "tests.security.outside:Parcel" in message and "flowgen.register_type" in message


def test_register_type_puts_a_class_of_another_module_on_the_allow_list() -> None:
    assert flowgen.register_type(outside.Registered) is outside.Registered
    assert roundtrip([outside.Registered("a")]) == [outside.Registered("a")]


def test_exceptions_outside_the_allow_list_come_back_as_step_failed_error() -> None:
    try:
        raise outside.OutsideError("disk full")
    except outside.OutsideError as error:
        record = error_record(error)
    rebuilt = rebuild_error(record)
    assert isinstance(rebuilt, flowgen.StepFailedError)
    assert rebuilt.type_name == "tests.security.outside.OutsideError"
    assert rebuilt.message == "disk full"


def test_registered_exceptions_are_rebuilt_as_their_type() -> None:
    flowgen.register_type(outside.RegisteredError)
    try:
        raise outside.RegisteredError("quota")
    except outside.RegisteredError as error:
        record = error_record(error)
    assert type(rebuild_error(record)) is outside.RegisteredError


def test_standard_library_exceptions_are_rebuilt_as_their_type() -> None:
    import json

    try:
        json.loads("{")
    except json.JSONDecodeError as error:
        record = error_record(error)
    assert type(rebuild_error(record)) is json.JSONDecodeError
