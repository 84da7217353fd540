"""Turn journaled outcomes back into what the workflow receives (pure, no I/O).

Used by the runtime (live and on replay) and by ``flowgen.testing.verify_replay``, so a check
of exported journals decodes exactly as a worker would. Values are decoded with the slot they
were encoded under (``"<pos>"``, ``"<pos>/<path>"`` for members of ``all_of``/``any_of``, or an
explicit ``info["slot"]`` such as ``"event:<id>"`` for event payloads).
"""

from __future__ import annotations

from typing import Any

from .combinators import LeafResult, resolve
from .commands import AllOf, AnyOf
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


def decode_entry(serializer: Serializer, run_id: str, entry: Entry, command: Any) -> Outcome:
    """Rebuild the outcome a closed entry gives the command replay yielded at its position.

    ``all_of``/``any_of`` values are rebuilt from their members' recorded outcomes and the
    recorded ``any_of`` winners, so they come out the same whatever order members finished in.
    """
    if not isinstance(command, (AllOf, AnyOf)):
        return decode_plain(serializer, run_id, entry)
    results = {
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
