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

from .compact_json import compact_encoder, number

_COMPACT = compact_encoder()
"""Compact JSON for journal documents: one C encoder, built once (:mod:`flowgen.compact_json`)."""
_STRING = json.encoder.encode_basestring_ascii
"""A text as a JSON string, as ``_COMPACT`` writes it (ASCII)."""

# The documents every step writes (its open entry, then its closed entry) are built as text
# directly, byte for byte what ``_COMPACT`` writes for their dicts: the C encoder prints each
# float with ``repr`` (about 7,800 instructions for a timestamp) and a step's three timestamps
# are written twice, once in each document; :func:`~flowgen.compact_json.number` prints each
# once. The shapes are checked against the dicts' keys, in order; any other shape, or a value
# not of the type the shape says, goes through ``_COMPACT``.
_ATTEMPT_SHAPES = {
    ("n", "started", "status"): (False, False),
    ("n", "started", "status", "finished"): (True, False),
    ("n", "started", "status", "epoch"): (False, True),
    ("n", "started", "status", "finished", "epoch"): (True, True),
}
"""The key orders :meth:`Attempt.to_dict` writes without an error: has (finished, epoch)."""


def _attempt_text(data: dict[str, Any]) -> str:
    """An attempt's dict (:meth:`Attempt.to_dict`) as ``_COMPACT`` writes it."""
    shape = _ATTEMPT_SHAPES.get(tuple(data)) if type(data) is dict else None
    if shape is not None:
        n, status, epoch = data["n"], data["status"], data.get("epoch")
        if type(n) is int and type(status) is str and (epoch is None or type(epoch) is int):
            text = f'{{"n":{n},"started":{number(data["started"])},"status":{_STRING(status)}'
            if shape[0]:
                text += f',"finished":{number(data["finished"])}'
            if shape[1]:
                text += f',"epoch":{epoch}'
            return text + "}"
    return _COMPACT(data)


def _attempts_text(attempts: Any) -> str:
    return "[" + ",".join([_attempt_text(attempt) for attempt in attempts]) + "]"


def _leaf_text(data: dict[str, Any]) -> str:
    """A leaf's dict (:meth:`LeafState.to_dict`) as ``_COMPACT`` writes it: a step's (kind, name,
    attempts) built directly, any other through the encoder."""
    if tuple(data) == ("kind", "name", "attempts"):
        kind, name, attempts = data["kind"], data["name"], data["attempts"]
        if type(kind) is str and type(name) is str and type(attempts) is list:
            return f'{{"kind":{_STRING(kind)},"name":{_STRING(name)},"attempts":{_attempts_text(attempts)}}}'
    return _COMPACT(data)


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
        """The stored text: byte for byte ``_COMPACT`` of the entry's dict (``pos``, ``kind``,
        ``name``, ``started``, ``leaves``), built directly (see ``_ATTEMPT_SHAPES``)."""
        leaves = {path: leaf.to_dict() for path, leaf in self.leaves.items()}
        if type(self.position) is int and type(self.kind) is str and type(self.name) is str:
            try:
                written = ",".join([f"{_STRING(path)}:{_leaf_text(leaf)}" for path, leaf in leaves.items()])
            except TypeError:  # a path that is not a text
                pass
            else:
                return (
                    f'{{"pos":{self.position},"kind":{_STRING(self.kind)},"name":{_STRING(self.name)},'
                    f'"started":{number(self.started)},"leaves":{{{written}}}}}'
                )
        return _COMPACT(
            {
                "pos": self.position,
                "kind": self.kind,
                "name": self.name,
                "started": self.started,
                "leaves": leaves,
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
        """The stored text: byte for byte ``_COMPACT(self.to_dict())``.

        A plain command's entry (every one a sequence of steps writes) is built directly (see
        ``_ATTEMPT_SHAPES``); a combinator's, or one whose fields are not of their declared
        types, goes through :meth:`to_dict`.
        """
        kind, name, ok = self.kind, self.name, self.ok
        if (
            self.leaves
            or self.winners
            or type(self.position) is not int
            or type(kind) is not str
            or type(name) is not str
            or type(ok) is not bool
        ):
            return _COMPACT(self.to_dict())
        text = (
            f'{{"pos":{self.position},"kind":{_STRING(kind)},"name":{_STRING(name)},'
            f'"ok":{"true" if ok else "false"},"started":{number(self.started)},'
            f'"finished":{number(self.finished)}'
        )
        if ok:
            value = self.value
            text += f',"value":{_STRING(value) if type(value) is str else _COMPACT(value)}'
        else:
            text += f',"error":{_COMPACT(self.error)}'
        if self.attempts:
            text += f',"attempts":{_attempts_text(self.attempts)}'
        if self.info:
            text += f',"info":{_COMPACT(self.info)}'
        return text + "}"

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
