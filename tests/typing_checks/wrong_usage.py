"""Deliberately wrong calls: tests/core/test_typing.py asserts ``mypy --strict`` reports each one.

Each line that must be an error ends with a "wrong" comment quoting what mypy must say.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import flowgen


@flowgen.step
def add(a: int, b: int) -> int:
    return a + b


@flowgen.workflow
def order(order_id: str, amount: int) -> Generator[Any, Any, str]:
    total = yield from add(1, 2)
    text: str = total  # wrong: Incompatible types in assignment
    yield from add("not", "ints")  # wrong: Argument 1 to "__call__" of "Step" has incompatible type "str"
    return text


def start_it(engine: flowgen.Engine) -> None:
    engine.start(order, "wrong", "types")  # wrong: No overload variant of "start" of "Engine" matches
    result: int = engine.start(order, "o1", 3).result()  # wrong: Incompatible types in assignment
    engine.start(order, "o1")  # wrong: No overload variant of "start" of "Engine" matches
    add.fn(1, 2, 3)  # wrong: Too many arguments
    print(result)
