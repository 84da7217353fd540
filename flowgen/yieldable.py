"""``Yieldable[R]``: what makes ``value = yield from command`` give ``value`` the type ``R``.

Every command a workflow yields derives from it. Iterating a command yields the command itself
once and returns what the engine sends back, so ``payment = yield from charge(order)`` does what
``payment = yield charge(order)`` does, and a type checker knows ``payment`` is the step's return
type. Errors the engine throws in (a failed step, a timeout) come out of the ``yield from`` as
they come out of a plain ``yield``. This module imports nothing of flowgen.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, cast

from typing_extensions import TypeVar

R = TypeVar("R", default=Any)


class Yieldable(Generic[R]):
    """A command whose result has the type ``R`` (see the module docstring)."""

    __slots__ = ()

    def __iter__(self) -> Generator[Any, Any, R]:
        result = yield self
        return cast(R, result)


__all__ = ["Yieldable"]
