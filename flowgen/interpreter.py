"""The pure interpreter: replay a workflow generator against its journal, decide what comes next.

Given a generator and the journaled outcomes of its first commands, :class:`Replayer` feeds each
outcome back in (results with ``send``, failures with ``throw``), checking at every yield
position that the code yields the command the journal recorded there. What it returns is a
decision: execute a new command, complete with an output, or fail with an error.

No I/O happens here, and the module imports neither ``redis`` nor ``dramatiq`` (a test enforces
it), so the same code drives production workers, the testing runner and ``verify_replay``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, cast

import attrs

from .commands import COMMAND_TYPES, AllOf, AnyOf, Command, WaitForEvent
from .errors import NonDeterminismError, WorkflowYieldError
from .patches import DeprecatedPatch, Patched, marker_value, repeated_patch
from .schemas import SchemaError, convert


@attrs.frozen
class Outcome:
    """The outcome of one command: a value, or an error to raise into the workflow."""

    ok: bool
    value: Any = None
    error: BaseException | None = None

    @classmethod
    def success(cls, value: Any) -> Outcome:
        return cls(True, value, None)

    @classmethod
    def failure(cls, error: BaseException) -> Outcome:
        return cls(False, None, error)


@attrs.frozen
class Recorded:
    """A journal entry as the interpreter sees it: where, what command, and how it ended.

    ``outcome`` may be a callable taking the command replay yielded at this position and
    returning the :class:`Outcome`: combinators rebuild their value from their members'
    recorded outcomes, which needs the yielded command's shape. It is only called after the
    command was checked against the recorded kind and name.
    """

    position: int
    kind: str
    name: str
    outcome: Outcome | Callable[[Any], Outcome]

    def describe(self) -> str:
        return f"{self.kind} {self.name!r}"


@attrs.frozen
class Execute:
    """The workflow yielded a command that has no journaled outcome yet."""

    position: int
    command: Command


@attrs.frozen
class Complete:
    """The workflow returned ``output``."""

    output: Any


@attrs.frozen
class Fail:
    """The workflow raised ``error`` (or yielded something that is not a command)."""

    error: BaseException


Decision = Execute | Complete | Fail


def received(command: Any, value: Any) -> Any:
    """The value a workflow receives for ``command``: event payloads converted to their schema.

    Raises:
        SchemaError: a payload does not fit the ``schema`` of its ``wait_for_event``.
    """
    if isinstance(command, WaitForEvent):
        if command.schema is None:
            return value
        return convert(command.schema, value, f"the payload of event {command.type!r}")
    if isinstance(command, AllOf) and isinstance(value, list) and len(value) == len(command.commands):
        return [received(member, item) for member, item in zip(command.commands, value, strict=True)]
    if isinstance(command, AnyOf) and isinstance(value, (list, tuple)) and len(value) == 2:
        index, item = value
        if isinstance(index, int) and 0 <= index < len(command.commands):
            converted = received(command.commands[index], item)
            return [index, converted] if isinstance(value, list) else (index, converted)
    return value


def _delivered(command: Any, outcome: Outcome) -> Outcome:
    if not outcome.ok or not isinstance(command, (WaitForEvent, AllOf, AnyOf)):
        return outcome
    try:
        return Outcome.success(received(command, outcome.value))
    except SchemaError as error:
        return Outcome.failure(error)


def describe_command(command: Any) -> str:
    """Describe a command the way the journal's ``kind`` and ``name`` do."""
    return f"{command.kind} {command.name!r}"


def _bad_yield(value: Any, position: int) -> WorkflowYieldError:
    from .decorators import Step, Workflow

    if isinstance(value, Step):
        hint = f"it yielded the step {value.name!r} itself; call it: `yield {value.name}(...)`"
    elif isinstance(value, Workflow):
        hint = f"it yielded the workflow {value.name!r}; use `yield flowgen.child({value.name}, ...)`"
    elif inspect.isgenerator(value):
        hint = (
            "it yielded a generator (a workflow called without `yield from`); use `yield from other(...)` "
            "to inline it or `yield flowgen.child(other, ...)` to run it as a child"
        )
    else:
        hint = f"it yielded {value!r} ({type(value).__name__})"
    return WorkflowYieldError(
        f"workflows must yield flowgen commands (step calls, flowgen.sleep(...), ...) but at position "
        f"{position} {hint}"
    )


class Replayer:
    """Drive one workflow generator, one yield position at a time.

    ``position`` is the yield position of the command the generator is suspended at (the
    number of outcomes fed so far). The generator is advanced only through this object, so the
    position always matches the journal.
    """

    def __init__(
        self, generator: Generator[Any, Any, Any], *, parked: tuple[int, str, str] | None = None
    ) -> None:
        if not inspect.isgenerator(generator):
            raise TypeError(f"a workflow must be a generator function; calling it returned {generator!r}")
        self.generator = generator
        self.position = 0
        self.decision: Decision | None = None
        self.history: list[Any] = []
        """The command yielded at each position so far (saga compensation needs their arguments)."""
        self.parked = parked
        """``(position, kind, name)`` of the run's open entry, which patch commands must respect."""
        self._upcoming: Recorded | None = None
        self._patches: set[str] = set()
        self._deprecated = False

    def _recorded_here(self) -> tuple[str, str] | None:
        """The ``(kind, name)`` journaled or open at the current position, if any."""
        if self._upcoming is not None:
            return (self._upcoming.kind, self._upcoming.name)
        if self.parked is not None and self.parked[0] == self.position:
            return (self.parked[1], self.parked[2])
        return None

    def _step(self, outcome: Outcome | None) -> Decision:
        decision = self._resume(outcome)
        # Patch commands that take no journal position are answered here, at once (patches.py).
        while isinstance(decision, Execute) and isinstance(decision.command, Patched):
            patch_id = decision.command.name
            if patch_id in self._patches:
                self.generator.close()
                self.decision = Fail(repeated_patch(patch_id, self.position))
                return self.decision
            self._patches.add(patch_id)
            value = marker_value(patch_id, self._deprecated, self._recorded_here())
            if value is None:
                break
            self.history.pop()
            decision = self._resume(Outcome.success(value))
        return decision

    def _resume(self, outcome: Outcome | None) -> Decision:
        try:
            if outcome is None:
                yielded = next(self.generator)
            elif outcome.ok:
                yielded = self.generator.send(outcome.value)
            else:
                assert outcome.error is not None
                yielded = self.generator.throw(outcome.error)
        except StopIteration as stop:
            self.decision = Complete(stop.value)
            return self.decision
        except Exception as error:
            self.decision = Fail(error)
            return self.decision
        self._deprecated = isinstance(yielded, DeprecatedPatch)
        if isinstance(yielded, DeprecatedPatch):
            # Replayed (when the marker is recorded here) as the entry a patched() wrote.
            yielded = Patched(yielded.name)
        if not isinstance(yielded, COMMAND_TYPES):
            bad_yield = _bad_yield(yielded, self.position)
            self.generator.close()
            self.decision = Fail(bad_yield)
            return self.decision
        command = cast(Command, yielded)
        self.history.append(command)
        self.decision = Execute(self.position, command)
        return self.decision

    def start(self) -> Decision:
        """Run the workflow to its first yield."""
        if self.decision is not None:
            raise RuntimeError("this replayer has already started")
        return self._step(None)

    def send(self, outcome: Outcome) -> Decision:
        """Feed the outcome of the pending command and run to the next yield (or the end)."""
        if not isinstance(self.decision, Execute):
            raise RuntimeError(f"no command is pending; the workflow already ended with {self.decision!r}")
        self.position += 1
        return self._step(_delivered(self.decision.command, outcome))

    def replay(self, entries: Iterable[Recorded]) -> Decision:
        """Feed every journaled outcome in order and return the decision that follows them.

        Raises:
            NonDeterminismError: the code yields a different command (kind or name) at some
                position than the journal recorded, or ends before the journal does. No
                recorded outcome is ever fed to a different command.
        """
        pending = iter(entries)
        self._upcoming = next(pending, None)
        try:
            return self._replay(pending)
        finally:
            self._upcoming = None

    def _replay(self, pending: Iterator[Recorded]) -> Decision:
        decision = self.decision if self.decision is not None else self.start()
        while self._upcoming is not None:
            entry = self._upcoming
            if entry.position != self.position:
                raise ValueError(
                    f"journal entries must be contiguous: expected position {self.position}, got {entry.position}"
                )
            if not isinstance(decision, Execute):
                detail = (
                    "the workflow returned"
                    if isinstance(decision, Complete)
                    else (f"the workflow raised {type(decision.error).__name__}: {decision.error}")
                )
                raise NonDeterminismError(entry.position, entry.describe(), None, detail)
            command = decision.command
            if command.kind != entry.kind or command.name != entry.name:
                raise NonDeterminismError(entry.position, entry.describe(), describe_command(command))
            outcome = entry.outcome(command) if callable(entry.outcome) else entry.outcome
            self._upcoming = next(pending, None)
            decision = self.send(outcome)
        return decision

    def close(self) -> None:
        """Close the generator now rather than when it is garbage collected.

        Closing runs the workflow's ``finally`` blocks (pure code, like the rest of a workflow).
        A ``finally`` that yields a cleanup command makes ``close()`` raise ``RuntimeError``;
        closing again unwinds past that yield, so a bounded loop finishes the generator and
        nothing is reported as an "ignored GeneratorExit" later.
        """
        for _ in range(100):
            try:
                self.generator.close()
                return
            except RuntimeError:
                continue
            except Exception:  # the workflow's finally raised: it is finished all the same
                return


__all__ = [
    "Complete",
    "Decision",
    "Execute",
    "Fail",
    "Outcome",
    "Recorded",
    "Replayer",
    "describe_command",
]
