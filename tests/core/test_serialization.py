"""JSON with tagged types by default; cloudpickle opt-in, sealed with an HMAC; error records."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import attrs
import pytest

import flowgen
from flowgen.serialization import Serializer, error_record, rebuild_error


@dataclasses.dataclass(frozen=True)
class Address:
    city: str
    zip: str


@dataclasses.dataclass
class Customer:
    name: str
    address: Address
    since: datetime
    tags: set[str] = dataclasses.field(default_factory=set)


@attrs.frozen
class Money:
    amount: Decimal
    currency: str


class Color(enum.Enum):
    RED = "red"


# This module registers no workflow: its classes go on the allow-list explicitly.
flowgen.register_type(Address, Customer, Money, Color)


class NeedsTwoArgs(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code


class KeywordOnly(Exception):
    def __init__(self, *, code: int) -> None:
        super().__init__(f"code {code}")
        self.code = code


flowgen.register_type(NeedsTwoArgs, KeywordOnly)


def roundtrip(value: object, serializer: Serializer | None = None) -> object:
    serializer = serializer or Serializer()
    text = serializer.encode(value, run_id="r", slot="0", what="a value")
    return serializer.decode(text, run_id="r", slot="0")


def test_json_round_trips_rich_types() -> None:
    value = {
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "day": date(2026, 1, 2),
        "at": time(3, 4),
        "wait": timedelta(days=1, seconds=5),
        "id": UUID("12345678-1234-5678-1234-567812345678"),
        "price": Decimal("19.99"),
        "blob": b"\x00\x01",
        "customer": Customer(
            "ada", Address("Paris", "75001"), datetime(2020, 1, 1, tzinfo=timezone.utc), {"vip"}
        ),
        "money": Money(Decimal("1.10"), "EUR"),
        "color": Color.RED,
        "frozen": frozenset({1, 2}),
    }
    assert roundtrip(value) == value


def test_json_turns_tuples_into_lists() -> None:
    assert roundtrip((1, (2, 3))) == [1, [2, 3]]


def test_unencodable_value_error_names_what_and_the_type() -> None:
    with pytest.raises(flowgen.SerializationError) as caught:
        Serializer().encode({"f": object()}, run_id="r", slot="0", what="the result of step 'x'")
    assert "the result of step 'x'" in str(caught.value)
    assert "object" in str(caught.value)


def test_oversize_payload_is_refused_with_the_sizes() -> None:
    serializer = Serializer(max_payload_bytes=100)
    with pytest.raises(flowgen.PayloadTooLargeError, match="over the limit of 100 bytes"):
        serializer.encode("x" * 200, run_id="r", slot="0", what="an event payload")


def test_pickle_needs_a_secret_key() -> None:
    with pytest.raises(flowgen.ConfigurationError, match="secret key"):
        Serializer(pickle=True)


def test_engine_refuses_pickle_without_a_key() -> None:
    with pytest.raises(flowgen.ConfigurationError, match="secret key"):
        flowgen.Engine("memory://", serializer="pickle", start_workers=False)


def test_pickle_round_trips_arbitrary_objects() -> None:
    serializer = Serializer(pickle=True, secret_key="k" * 32)
    value = roundtrip(lambda x: x + 1, serializer)
    assert callable(value) and value(1) == 2  # type: ignore[operator]


@pytest.mark.parametrize("tamper", ["signature", "blob", "slot", "run", "key"])
def test_pickle_refuses_tampered_or_moved_blobs(tamper: str) -> None:
    serializer = Serializer(pickle=True, secret_key="k" * 32)
    text = serializer.encode({"a": 1}, run_id="run-1", slot="3", what="x")
    prefix, signature, blob = text.split(":", 2)
    run_id, slot, reader = "run-1", "3", serializer
    if tamper == "signature":
        text = f"{prefix}:{'0' * len(signature)}:{blob}"
    elif tamper == "blob":
        import base64
        import pickle

        text = f"{prefix}:{signature}:{base64.b64encode(pickle.dumps({'a': 2})).decode()}"
    elif tamper == "slot":
        slot = "4"
    elif tamper == "run":
        run_id = "run-2"
    else:
        reader = Serializer(pickle=True, secret_key="j" * 32)
    with pytest.raises(flowgen.TamperedDataError):
        reader.decode(text, run_id=run_id, slot=slot)


def test_reading_a_pickled_value_without_a_key_is_refused() -> None:
    text = Serializer(pickle=True, secret_key="k" * 32).encode(1, run_id="r", slot="0", what="x")
    with pytest.raises(flowgen.TamperedDataError, match="secret_key"):
        Serializer().decode(text, run_id="r", slot="0")


def test_errors_are_rebuilt_as_their_original_type_with_attributes() -> None:
    try:
        raise NeedsTwoArgs(404, "missing")
    except NeedsTwoArgs as error:
        record = error_record(error)
    rebuilt = rebuild_error(record)
    assert type(rebuilt) is NeedsTwoArgs
    assert rebuilt.code == 404  # type: ignore[attr-defined]
    assert str(rebuilt) == "404: missing"
    assert "raise NeedsTwoArgs" in rebuilt.flowgen_traceback  # type: ignore[attr-defined]


def test_errors_with_other_init_parameters_are_rebuilt_too() -> None:
    try:
        raise KeywordOnly(code=7)
    except KeywordOnly as error:
        record = error_record(error)
    rebuilt = rebuild_error(record)
    assert type(rebuilt) is KeywordOnly
    assert rebuilt.code == 7  # type: ignore[attr-defined]
    assert str(rebuilt) == "code 7"


def test_unrebuildable_errors_become_step_failed_error_with_the_details() -> None:
    class LocalError(Exception):
        """Defined in a function: not importable by name, so not rebuildable."""

    try:
        raise LocalError("disk full")
    except LocalError as error:
        record = error_record(error)
    rebuilt = rebuild_error(record)
    assert isinstance(rebuilt, flowgen.StepFailedError)
    assert rebuilt.type_name.endswith("LocalError")
    assert rebuilt.message == "disk full"
    assert 'raise LocalError("disk full")' in rebuilt.traceback_text


def test_error_causes_are_kept() -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise flowgen.StepCrashedError("charge crashed") from inner
    except flowgen.StepCrashedError as error:
        record = error_record(error)
    import json

    record = json.loads(json.dumps(record))  # records are stored as plain JSON
    rebuilt = rebuild_error(record)
    assert isinstance(rebuilt, flowgen.StepCrashedError) and str(rebuilt) == "charge crashed"
    assert isinstance(rebuilt.__cause__, KeyError)
