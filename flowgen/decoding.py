"""Turn journaled outcomes back into what the workflow receives (pure, no I/O).

Used by the runtime (live and on replay) and by ``flowgen.testing.verify_replay``, so a check
of exported journals decodes exactly as a worker would. Values are decoded with the slot they
were encoded under (``"<pos>"``, ``"<pos>/<path>"`` for members of ``all_of``/``any_of``, or an
explicit ``info["slot"]`` such as ``"event:<id>"`` for event payloads).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .combinators import LeafResult, resolve
from .commands import AllOf, AnyOf, member_path
from .errors import NonDeterminismError
from .interpreter import Outcome, Recorded
from .journal import Entry, LeafOutcome
from .serialization import Serializer, rebuild_error


def leaf_slot(position: int, path: str) -> str:
    """The slot a leaf's value is encoded under: ``"<pos>"`` for a plain command, else ``"<pos>/<path>"``."""
    return f"{position}/{path}" if path else str(position)


def leaf_result(
    serializer: Serializer, run_id: str, position: int, path: str, info: dict[str, Any], outcome: LeafOutcome
) -> LeafResult:
    """Decode one leaf's recorded outcome."""
    slot = info.get("slot") or leaf_slot(position, path)
    if outcome.ok:
        value = None if outcome.value is None else serializer.decode(outcome.value, run_id=run_id, slot=slot)
        return LeafResult(True, value, None, outcome.finished)
    return LeafResult(False, None, rebuild_error(outcome.error or {}), outcome.finished)


def decode_plain(serializer: Serializer, run_id: str, entry: Entry) -> Outcome:
    """Decode the outcome of an entry of a plain (non-combinator) command."""
    if entry.ok:
        slot = entry.info.get("slot") or str(entry.position)
        value = None if entry.value is None else serializer.decode(entry.value, run_id=run_id, slot=slot)
        return Outcome.success(value)
    return Outcome.failure(rebuild_error(entry.error or {}))


def decode_leaves(serializer: Serializer, run_id: str, entry: Entry) -> dict[str, LeafResult]:
    """Decode the recorded outcome of every member of an ``all_of``/``any_of`` entry, by path."""
    return {
        path: leaf_result(
            serializer,
            run_id,
            entry.position,
            path,
            dict(record.get("info") or {}),
            LeafOutcome.from_dict(record),
        )
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


def decode_entry(serializer: Serializer, run_id: str, entry: Entry, command: Any) -> Outcome:
    """Rebuild the outcome a closed entry gives the command replay yielded at its position.

    ``all_of``/``any_of`` values are rebuilt from their members' recorded outcomes and the
    recorded ``any_of`` winners, so they come out the same whatever order members finished in.
    """
    if not isinstance(command, (AllOf, AnyOf)):
        return decode_plain(serializer, run_id, entry)
    results = decode_leaves(serializer, run_id, entry)
    resolution = resolve(command, results, dict(entry.winners))
    if resolution is None:
        raise NonDeterminismError(
            entry.position, entry.name, command.name, "the recorded members do not resolve it"
        )
    result = resolution.result
    if result.ok:
        return Outcome.success(result.value)
    return Outcome.failure(result.error or rebuild_error(entry.error or {}))


def recorded(serializer: Serializer, run_id: str, entry: Entry) -> Recorded:
    """Wrap a closed entry for :meth:`flowgen.interpreter.Replayer.replay`."""
    return Recorded(
        entry.position,
        entry.kind,
        entry.name,
        lambda command: decode_entry(serializer, run_id, entry, command),
    )
