"""Workflows and steps whose parameters, results and events have schemas (tests/testing/test_schemas.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import attrs
import pydantic

import flowgen


class Payment(pydantic.BaseModel):
    order_id: str
    amount: int


@dataclasses.dataclass
class Address:
    city: str
    zip: str


@attrs.frozen
class Parcel:
    weight: int = attrs.field(validator=attrs.validators.ge(0))


CALLS: list[Any] = []


@flowgen.step(name="schemas.pay", retries=3)
def pay(payment: Payment) -> Payment:
    CALLS.append(payment)
    return Payment(order_id=payment.order_id, amount=payment.amount * 2)


@flowgen.step(name="schemas.label", retries=3)
def label(address: Address, parcel: Parcel) -> str:
    CALLS.append((address, parcel))
    return f"{address.city}/{parcel.weight}"


@flowgen.step(name="schemas.bad_result", retries=3)
def bad_result(n: int) -> Payment:
    CALLS.append(n)
    return {"order_id": "o", "amount": "lots"}  # type: ignore[return-value]


@flowgen.step(name="schemas.dict_result", retries=0)
def dict_result(n: int) -> Payment:
    return {"order_id": f"o{n}", "amount": str(n)}  # type: ignore[return-value]


@flowgen.workflow(name="schemas.checkout")
def checkout(payment: Payment, address: Address, parcel: Parcel) -> Generator[Any, Any, dict[str, Any]]:
    assert isinstance(payment, Payment) and isinstance(address, Address) and isinstance(parcel, Parcel)
    doubled = yield from pay(payment)
    text = yield from label({"city": address.city, "zip": address.zip}, {"weight": parcel.weight})  # type: ignore[arg-type]
    converted = yield from dict_result(7)
    confirmation = yield from flowgen.wait_for_event("paid", schema=Payment)
    return {
        "doubled": [type(doubled).__name__, doubled.amount],
        "label": text,
        "converted": [type(converted).__name__, converted.amount],
        "paid": [type(confirmation).__name__, confirmation.order_id, confirmation.amount],
    }


@flowgen.workflow(name="schemas.bad_step_result")
def bad_step_result() -> Generator[Any, Any, str]:
    try:
        yield from bad_result(1)
    except flowgen.SchemaError as error:
        return f"caught: {error}"
    return "not reached"


@flowgen.workflow(name="schemas.bad_event")
def bad_event() -> Generator[Any, Any, str]:
    try:
        yield from flowgen.wait_for_event("paid", schema=Payment)
    except flowgen.SchemaError as error:
        return f"caught: {error}"
    return "not reached"


@flowgen.workflow(name="schemas.plain")
def plain(order_id: str, amount: int = 1, *, note: str = "") -> Generator[Any, Any, str]:
    yield flowgen.sleep(1)
    return f"{order_id}/{amount}/{note}"


@flowgen.workflow(name="schemas.parent")
def parent(how: str) -> Generator[Any, Any, Any]:
    try:
        if how == "child":
            yield flowgen.child(plain, "o", 1, 2, 3)  # type: ignore[call-overload]
        else:
            yield flowgen.start_child(plain, "o", nope=1)  # type: ignore[call-overload]
    except TypeError as error:
        return f"caught: {error}"
    return "not reached"


PAYMENT = {"order_id": "o", "amount": "5"}


@flowgen.workflow(name="schemas.parent_by_name")
def parent_by_name(how: str) -> Generator[Any, Any, Any]:
    """Starts ``schemas.plain`` or ``schemas.checkout`` by name with arguments that do not fit."""
    try:
        if how == "child":
            yield flowgen.child("schemas.plain", "o", 1, 2, 3)
        elif how == "start_child":
            yield flowgen.start_child("schemas.plain", "o", nope=1)
        elif how == "in_all_of":
            yield flowgen.all_of(flowgen.sleep(1), flowgen.child("schemas.plain"))
        elif how == "schema":
            yield flowgen.child(
                "schemas.checkout", {"order_id": "o", "amount": "x"}, {"city": "c", "zip": "z"}, {"weight": 1}
            )
        elif how == "fits":
            return (
                yield flowgen.start_child(
                    "schemas.checkout", PAYMENT, {"city": "c", "zip": "z"}, {"weight": 1}
                )
            )
        else:
            return (yield flowgen.child("schemas.plain", how, amount=2))
    except (TypeError, flowgen.SchemaError) as error:
        return f"caught {type(error).__name__}: {error}"
    return "not reached"
