"""The journal's records: closed entries, the open entry at the tail, and per-leaf state.

A run's journal is a list of **closed entries**, one per yield position, each holding the
outcome of the command yielded there, plus at most one **open entry** at the next position: the
command in progress (a step's attempts so far, a sleep's due time, an event wait's deadline,
the members of an ``all_of``...). The open entry is written before anything is executed, so a
crash leaves a trace (an attempt that started and never finished) and a resumed run never
recomputes a due time. Closing the open entry and opening the next one is one store write.

Every value in here is JSON-compatible; values and payloads are already-encoded texts (see
:mod:`flowgen.serialization`), so stores never look inside them. Leaves of a combinator are
keyed by path (``"0"``, ``"1"``, ``"2.0"``); a plain command is the single leaf ``""``.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from .compact_json import compact_encoder

_COMPACT = compact_encoder()
"""Compact JSON for journal documents: one C encoder, built once (:mod:`flowgen.compact_json`)."""

ATTEMPT_RUNNING = "running"
ATTEMPT_OK = "ok"
ATTEMPT_ERROR = "error"
ATTEMPT_TIMEOUT = "timeout"
ATTEMPT_CRASHED = "crashed"


@attrs.define
class Attempt:
    """One execution of a step body."""

    number: int
    started: float
    status: str = ATTEMPT_RUNNING
    finished: float | None = None
    error: dict[str, Any] | None = None
    epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"n": self.number, "started": self.started, "status": self.status}
        if self.finished is not None:
            data["finished"] = self.finished
        if self.error is not None:
            data["error"] = self.error
        if self.epoch is not None:
            data["epoch"] = self.epoch
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        return cls(
            number=data["n"],
            started=data["started"],
            status=data.get("status", ATTEMPT_RUNNING),
            finished=data.get("finished"),
            error=data.get("error"),
            epoch=data.get("epoch"),
        )


@attrs.define
class LeafOutcome:
    """How a leaf ended: an encoded value or an error record, and when."""

    ok: bool
    value: str | None = None
    error: dict[str, Any] | None = None
    finished: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "finished": self.finished}
        if self.ok:
            data["value"] = self.value
        else:
            data["error"] = self.error
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeafOutcome:
        return cls(
            ok=data["ok"],
            value=data.get("value"),
            error=data.get("error"),
            finished=data.get("finished", 0.0),
        )


@attrs.define
class LeafState:
    """The state of one leaf command while its entry is open.

    Attributes:
        kind, name: the leaf command's kind and name.
        due: when a sleep ends, or when an event wait times out (``None``: never).
        attempts: a step's attempts so far.
        next_at: the earliest start of a step's next attempt (retry back-off).
        dispatched: for a step run as its own message, the attempt number last dispatched.
        dispatched_at: when that message was sent.
        child: the run id of a child run.
        outcome: set once the leaf has resolved.
        info: kind-specific details kept in the closed entry (an event's id, ...).
    """

    kind: str
    name: str
    due: float | None = None
    attempts: list[Attempt] = attrs.Factory(list)
    next_at: float | None = None
    dispatched: int = 0
    dispatched_at: float | None = None
    child: str | None = None
    outcome: LeafOutcome | None = None
    info: dict[str, Any] = attrs.Factory(dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.due is not None:
            data["due"] = self.due
        if self.attempts:
            data["attempts"] = [a.to_dict() for a in self.attempts]
        if self.next_at is not None:
            data["next_at"] = self.next_at
        if self.dispatched:
            data["dispatched"] = self.dispatched
            data["dispatched_at"] = self.dispatched_at
        if self.child is not None:
            data["child"] = self.child
        if self.outcome is not None:
            data["outcome"] = self.outcome.to_dict()
        if self.info:
            data["info"] = self.info
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeafState:
        outcome = data.get("outcome")
        return cls(
            kind=data["kind"],
            name=data["name"],
            due=data.get("due"),
            attempts=[Attempt.from_dict(a) for a in data.get("attempts", ())],
            next_at=data.get("next_at"),
            dispatched=data.get("dispatched", 0),
            dispatched_at=data.get("dispatched_at"),
            child=data.get("child"),
            outcome=None if outcome is None else LeafOutcome.from_dict(outcome),
            info=dict(data.get("info") or {}),
        )

    def running_attempt(self) -> Attempt | None:
        """Return the last attempt if it started and has not finished."""
        if self.attempts and self.attempts[-1].status == ATTEMPT_RUNNING:
            return self.attempts[-1]
        return None

    def count(self, *statuses: str) -> int:
        return sum(1 for a in self.attempts if a.status in statuses)


@attrs.define
class OpenEntry:
    """The command in progress at ``position``, the first position without a closed entry."""

    position: int
    kind: str
    name: str
    started: float
    leaves: dict[str, LeafState]

    def to_json(self) -> str:
        return _COMPACT(
            {
                "pos": self.position,
                "kind": self.kind,
                "name": self.name,
                "started": self.started,
                "leaves": {path: leaf.to_dict() for path, leaf in self.leaves.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> OpenEntry:
        data = json.loads(text)
        return cls(
            position=data["pos"],
            kind=data["kind"],
            name=data["name"],
            started=data["started"],
            leaves={path: LeafState.from_dict(leaf) for path, leaf in data["leaves"].items()},
        )


@attrs.frozen
class Entry:
    """A closed journal entry: the command yielded at ``position`` and its outcome.

    For a plain command ``ok``/``value``/``error`` are the outcome. For ``all_of``/``any_of``
    the outcome is rebuilt from ``leaves`` (each leaf's outcome) and ``winners`` (which member
    won each ``any_of``), so replay gives the same values in the same order however the members
    finished.
    """

    position: int
    kind: str
    name: str
    ok: bool
    value: str | None = None
    error: dict[str, Any] | None = None
    started: float = 0.0
    finished: float = 0.0
    attempts: tuple[dict[str, Any], ...] = ()
    info: dict[str, Any] = attrs.field(factory=dict)
    leaves: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    winners: dict[str, int] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pos": self.position,
            "kind": self.kind,
            "name": self.name,
            "ok": self.ok,
            "started": self.started,
            "finished": self.finished,
        }
        if self.ok:
            data["value"] = self.value
        else:
            data["error"] = self.error
        if self.attempts:
            data["attempts"] = list(self.attempts)
        if self.info:
            data["info"] = self.info
        if self.leaves:
            data["leaves"] = self.leaves
        if self.winners:
            data["winners"] = self.winners
        return data

    def to_json(self) -> str:
        return _COMPACT(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(
            position=data["pos"],
            kind=data["kind"],
            name=data["name"],
            ok=data["ok"],
            value=data.get("value"),
            error=data.get("error"),
            started=data.get("started", 0.0),
            finished=data.get("finished", 0.0),
            attempts=tuple(data.get("attempts", ())),
            info=dict(data.get("info") or {}),
            leaves=dict(data.get("leaves") or {}),
            winners={k: int(v) for k, v in (data.get("winners") or {}).items()},
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Entry:
        return cls.from_dict(json.loads(text))


MALFORMED = "malformed"
"""The kind of a stand-in for a stored journal entry that is not an entry (see :func:`read_entry`)."""


def read_entry(text: str | bytes, position: int) -> Entry:
    """Parse the stored entry at ``position``; a stand-in of kind :data:`MALFORMED` if it is not one.

    Stores read journals before the runtime holds the run, so a store cannot fail the run there.
    The stand-in carries what is wrong; replay refuses it with a ``SerializationError`` naming the
    position, which fails the run cleanly instead of leaving it to be retried for ever.
    """
    try:
        entry = Entry.from_json(text)
        well_formed = (
            type(entry.position) is int
            and entry.position == position
            and isinstance(entry.kind, str)
            and isinstance(entry.name, str)
            and type(entry.ok) is bool
            and (entry.value is None or isinstance(entry.value, str))
            and (entry.error is None or isinstance(entry.error, dict))
        )
        if well_formed:
            return entry
        problem = "its fields do not have the shape of a journal entry"
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        problem = f"{type(error).__name__}: {error}"
    return Entry(position, MALFORMED, MALFORMED, False, error={"problem": problem[:500]})
