"""Mocked steps and recorded step calls: what :meth:`Runner.mock` installs and :meth:`Runner.calls` returns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from ..decorators import Step
from .errors import RunnerError


@attrs.frozen
class Call:
    """One call of a step body, as the runner saw it.

    Two calls compare equal when they have the same step, arguments and keyword arguments; where
    and when the call happened (``run_id``, ``position``, ``attempt``) is kept for inspection but
    not compared. Build expected calls with :func:`call`.

    Attributes:
        step: the step's name.
        args / kwargs: what the body was called with (step branches get their arguments back
            from JSON, so tuples arrive as lists there).
        mocked: whether a mock answered instead of the step's function.
        run_id, position, attempt: the run, journal position and attempt number of the call.
    """

    step: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict)
    mocked: bool = attrs.field(default=False, eq=False)
    run_id: str = attrs.field(default="", eq=False)
    position: str = attrs.field(default="", eq=False)
    attempt: int = attrs.field(default=0, eq=False)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.step}({', '.join(parts)})"


def call(step: Step | str, *args: Any, **kwargs: Any) -> Call:
    """Build the :class:`Call` a test expects: ``assert runner.calls(charge) == [call(charge, "o-1")]``."""
    return Call(step_name(step), tuple(args), dict(kwargs))


def step_name(step: Step | str) -> str:
    if isinstance(step, Step):
        return step.name
    if isinstance(step, str) and step:
        return step
    raise TypeError(f"expected a @flowgen.step or a step name, got {step!r}")


def is_exception(value: Any) -> bool:
    return isinstance(value, BaseException) or (isinstance(value, type) and issubclass(value, BaseException))


class StepMock:
    """What a mocked step does instead of running its function (see :meth:`Runner.mock`).

    Exactly one behaviour applies:

    * ``returns``: every call returns this value;
    * ``raises``: every call raises this exception (an instance or a class);
    * ``side_effect``: a callable called with the step's arguments (its return value is the
      result, what it raises is the failure), or an exception, or an iterable whose items
      answer successive calls (an exception item is raised, any other item returned).

    Attributes:
        step: the mocked step's name.
    """

    def __init__(self, step: str, returns: Any = None, raises: Any = None, side_effect: Any = None) -> None:
        self.step = step
        self.returns = returns
        self.raises = raises
        self.side_effect = side_effect
        self._answers: Iterator[Any] | None = None
        if side_effect is not None and not callable(side_effect) and not is_exception(side_effect):
            if not isinstance(side_effect, Iterable):
                raise TypeError(
                    f"side_effect for step {step!r} must be a callable, an exception or an iterable of "
                    f"results, got {side_effect!r}"
                )
            self._answers = iter(side_effect)

    def __call__(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if self._answers is not None:
            try:
                answer = next(self._answers)
            except StopIteration:
                raise RunnerError(
                    f"mocked step {self.step!r} was called more times than its side_effect list has items; "
                    "add items for the extra calls (retries count as calls)"
                ) from None
            if is_exception(answer):
                raise answer
            return answer
        if self.side_effect is not None:
            if is_exception(self.side_effect):
                raise self.side_effect
            return self.side_effect(*args, **kwargs)
        if self.raises is not None:
            raise self.raises
        return self.returns

    def __repr__(self) -> str:
        return f"<StepMock {self.step}>"
