"""Turn journaled outcomes back into what the workflow receives, and seal new ones (no I/O).

Used by the runtime (live and on replay) and by ``flowgen.testing.verify_replay``, so a check
of exported journals decodes exactly as a worker would. The reader computes every slot
(:mod:`flowgen.slots`) from the run's generation and the position replay is at, never from
the entry; on a sealed engine an outcome without a sealed value or error is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import slots
from .combinators import LeafResult, resolve
from .commands import AllOf, AnyOf, Sleep, SleepUntil, WaitForEvent, member_path
from .errors import CancelledError, NonDeterminismError, SerializationError, TamperedDataError
from .interpreter import Outcome, Recorded
from .journal import MALFORMED, Entry, LeafOutcome, LeafState
from .serialization import Serializer, where
from .status import RunStatus
from .stores.base import RunRecord

leaf_slot = slots.position
"""The slot of a leaf's outcome: ``"g<gen>/<pos>"`` for a plain command, else ``"g<gen>/<pos>/<path>"``."""


def _value(serializer: Serializer, run_id: str, slot: str, text: str | None) -> Any:
    if text is None:
        if serializer.sealed:
            raise TamperedDataError(f"{where(run_id, slot)} succeeded without a sealed value; refusing it")
        return None
    return serializer.decode(text, run_id=run_id, slot=slot)


def leaf_result(
    serializer: Serializer, run_id: str, generation: int, position: int, path: str, outcome: LeafOutcome
) -> LeafResult:
    """Decode one leaf's recorded outcome."""
    slot = leaf_slot(generation, position, path)
    if outcome.ok:
        return LeafResult(True, _value(serializer, run_id, slot, outcome.value), None, outcome.finished)
    return LeafResult(
        False, None, serializer.rebuild(outcome.error, run_id=run_id, slot=slot), outcome.finished
    )


def decode_plain(serializer: Serializer, run_id: str, generation: int, entry: Entry) -> Outcome:
    """Decode the outcome of an entry of a plain (non-combinator) command."""
    slot = leaf_slot(generation, entry.position, "")
    if entry.ok:
        return Outcome.success(_value(serializer, run_id, slot, entry.value))
    return Outcome.failure(serializer.rebuild(entry.error, run_id=run_id, slot=slot))


def decode_leaves(
    serializer: Serializer, run_id: str, generation: int, entry: Entry
) -> dict[str, LeafResult]:
    """Decode the recorded outcome of every member of an ``all_of``/``any_of`` entry, by path."""
    return {
        path: leaf_result(serializer, run_id, generation, entry.position, path, LeafOutcome.from_dict(record))
        for path, record in entry.leaves.items()
    }


def combinator_value(kind: str, results: Mapping[str, LeafResult], winners: Mapping[str, int]) -> Any:
    """Rebuild the value a successful ``all_of``/``any_of`` entry gave the workflow, without its command.

    For inspection (``Run.journal()``), where the yielded command is not at hand: the shape is
    read from what the entry recorded. A successful entry records every member it used, so an
    ``all_of``'s members are the distinct indexes under its path, in order, and an ``any_of``
    (whose path is in ``winners``) gives ``(index, value)`` of its winner; a path recorded as a
    leaf is a plain command. Replay does not use this: it resolves against the command it
    yielded (:func:`decode_entry`), which also checks that the two agree.

    Raises:
        KeyError: the recorded leaves do not form a successful combinator.
    """

    def member(path: str) -> Any:
        if path in results:
            return results[path].value
        return node(path, AnyOf.kind if path in winners else AllOf.kind)

    def node(prefix: str, node_kind: str) -> Any:
        if node_kind == AnyOf.kind:
            index = winners[prefix]
            return (index, member(member_path(prefix, index)))
        start = f"{prefix}." if prefix else ""
        indexes = sorted(
            {int(path[len(start) :].split(".")[0]) for path in results if path.startswith(start)}
        )
        return [member(member_path(prefix, index)) for index in indexes]

    return node("", kind)


def decode_entry(serializer: Serializer, run_id: str, generation: int, entry: Entry, command: Any) -> Outcome:
    """Rebuild the outcome a closed entry gives the command replay yielded at its position.

    ``all_of``/``any_of`` values are rebuilt from their members' recorded outcomes and the
    recorded ``any_of`` winners, so they come out the same whatever order members finished in.
    """
    if not isinstance(command, (AllOf, AnyOf)):
        return decode_plain(serializer, run_id, generation, entry)
    results = decode_leaves(serializer, run_id, generation, entry)
    resolution = resolve(command, results, dict(entry.winners))
    if resolution is None:
        raise NonDeterminismError(
            entry.position, entry.name, command.name, "the recorded members do not resolve it"
        )
    result = resolution.result
    if result.ok:
        return Outcome.success(result.value)
    if result.error is not None:
        return Outcome.failure(result.error)
    slot = leaf_slot(generation, entry.position, "")
    return Outcome.failure(serializer.rebuild(entry.error, run_id=run_id, slot=slot))


def recorded(serializer: Serializer, run_id: str, generation: int, entry: Entry) -> Recorded:
    """Wrap a closed entry for :meth:`flowgen.interpreter.Replayer.replay`.

    Raises:
        SerializationError: the stored entry was not a journal entry (:func:`flowgen.journal.read_entry`).
    """
    if entry.kind == MALFORMED:
        problem = (entry.error or {}).get("problem", "")
        raise SerializationError(
            f"the journal entry at position {entry.position} of run {run_id!r} is malformed ({problem}); "
            "it was altered in the store, so the run is failed rather than replayed on it"
        )
    return Recorded(
        entry.position,
        entry.kind,
        entry.name,
        lambda command: decode_entry(serializer, run_id, generation, entry, command),
    )


def decode_call(
    serializer: Serializer, text: Any, *, run_id: str, slot: str
) -> tuple[list[Any], dict[str, Any]]:
    """Decode the arguments of a workflow or a step: ``(args, kwargs)``, checked for their shape."""
    call = serializer.decode(text, run_id=run_id, slot=slot)
    if (
        not isinstance(call, dict)
        or not isinstance(call.get("args"), list)
        or not isinstance(call.get("kwargs"), dict)
        or not all(isinstance(key, str) for key in call["kwargs"])
    ):
        raise SerializationError(
            f"{where(run_id, slot)} are not {{'args': [...], 'kwargs': {{...}}}} but {type(call).__name__}; "
            "they were altered in the store"
        )
    return call["args"], call["kwargs"]


def check_report(report: Any, *, run_id: str, slot: str) -> dict[str, Any]:
    """Return a dispatched step's report if it has the shape its worker writes, else raise.

    Its value and error are checked like any other (their seals, when decoded); this checks
    the fields the runtime reads directly, so a report altered in the store fails the run
    with a ``SerializationError`` instead of an exception the runtime does not expect.
    """
    numbers = (int, float)
    if (
        not isinstance(report, dict)
        or not isinstance(report.get("ok"), bool)
        or (report["ok"] and not isinstance(report.get("value"), str))
        or (not report["ok"] and not isinstance(report.get("error"), dict))
        or not all(isinstance(report.get(k, 0.0), numbers) for k in ("started", "finished"))
    ):
        raise SerializationError(f"the report of the step at {where(run_id, slot)} was altered in the store")
    return report


def seal_branch_outcome(
    serializer: Serializer,
    run_id: str,
    generation: int,
    position: int,
    path: str,
    leaf: Any,
    state: LeafState,
    outcome: LeafOutcome,
) -> LeafOutcome:
    """Seal an outcome this advance just decided, in place, for the branch's journal slot.

    Error records are sealed (and bounded); an event's payload, sealed for its event while it
    waited in the inbox, is checked against the type the workflow waits for and resealed for
    the position; a sleep's ``null`` is encoded like any value. Never call it on an outcome
    read from the store: that would seal whatever a writer put there.
    """
    if outcome.ok and not isinstance(leaf, (WaitForEvent, Sleep, SleepUntil)):
        return outcome  # a step's or a child's value was sealed for this slot when encoded
    slot = leaf_slot(generation, position, path)
    if not outcome.ok:
        outcome.error = serializer.seal_record(outcome.error or {}, run_id=run_id, slot=slot)
    elif isinstance(leaf, WaitForEvent) and "event_id" in state.info:
        event_slot = slots.event(leaf.type, str(state.info["event_id"]))
        outcome.value = serializer.reseal(outcome.value, run_id=run_id, from_slot=event_slot, to_slot=slot)
    elif isinstance(leaf, (Sleep, SleepUntil)):
        outcome.value = serializer.encode(None, run_id=run_id, slot=slot, what="the end of a sleep")
    return outcome


def run_error(serializer: Serializer, record: RunRecord) -> BaseException | None:
    """The error a finished run ended with (checked like any error record), or ``None``.

    A run terminated with ``cancel(force=True)`` has an unsealed record the store wrote: its
    error is rebuilt from the status alone, never from what the record says.
    """
    if not record.error:
        return None
    slot = slots.run_error(record.generation)
    if serializer.sealed and record.status == RunStatus.CANCELLED and "seal" not in record.error:
        return CancelledError(f"run {record.run_id!r} was terminated (cancel(force=True)) without cleanup")
    return serializer.rebuild(record.error, run_id=record.run_id, slot=slot)
