"""Deliberately wrong calls: tests/core/test_typing.py asserts ``mypy --strict`` reports each one.

Each line that must be an error ends with a "wrong" comment quoting what mypy must say.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import flowgen
import flowgen.testing


@flowgen.step
def add(a: int, b: int) -> int:
    return a + b


@dataclasses.dataclass
class Payment:
    amount: int


@flowgen.workflow
def refund(order_id: str) -> Generator[Any, Any, int]:
    return (yield from add(1, 2))


@flowgen.workflow
def order(order_id: str, amount: int) -> Generator[Any, Any, str]:
    total = yield from add(1, 2)
    text: str = total  # wrong: Incompatible types in assignment
    yield from add("not", "ints")  # wrong: Argument 1 to "__call__" of "Step" has incompatible type "str"
    refunded: str = yield from flowgen.child(refund, "o")  # wrong: Incompatible types in assignment
    yield from flowgen.child(refund, 5)  # wrong: No overload variant of "child" matches
    yield from flowgen.start_child(refund, "o", 1)  # wrong: No overload variant of "start_child" matches
    paid: str = yield from flowgen.wait_for_event("paid", schema=Payment)  # wrong: Incompatible types
    first: str = (yield from flowgen.all_of(add(1, 2), flowgen.now()))[0]  # wrong: Incompatible types
    print(refunded, paid, first)
    return text


def start_it(engine: flowgen.Engine) -> None:
    engine.start(order, "wrong", "types")  # wrong: No overload variant of "start" of "Engine" matches
    result: int = engine.start(order, "o1", 3).result()  # wrong: Incompatible types in assignment
    engine.start(order, "o1")  # wrong: No overload variant of "start" of "Engine" matches
    add.fn(1, 2, 3)  # wrong: Too many arguments
    print(result)


async def start_it_async(engine: flowgen.AsyncEngine) -> None:
    await engine.start(order, "wrong", "types")  # wrong: No overload variant of "start" of "AsyncEngine" matches
    result: int = await (await engine.start(order, "o1", 3)).result()  # wrong: Incompatible types in assignment
    print(result)


def start_it_in_a_runner(runner: flowgen.testing.Runner) -> None:
    runner.start(order, "wrong", "types")  # wrong: No overload variant of "start" of "Runner" matches
    result: int = runner.start(order, "o1", 3).result()  # wrong: Incompatible types in assignment
    print(result)
