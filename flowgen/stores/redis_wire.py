"""How values cross to and from Redis: reply items as text, floats as exact text, the branches
hash as records, and commit operations as the flat ``kind, arguments...`` runs of script arguments
``lua/commit.lua`` applies. :mod:`flowgen.stores.redis` is the store; this module holds no state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..compact_json import compact_encoder
from .base import (
    AppendEntries,
    ConsumeEvent,
    DeliverCancel,
    Finish,
    NewGeneration,
    Operation,
    Park,
    SetOpen,
    SetStatus,
    StartAttempt,
    WriteBranch,
    unknown_operation,
)

COMPACT = compact_encoder()
"""Compact JSON for the engine's own documents (commits, branch records): one C encoder, built once."""


def text(value: Any) -> str:
    """A reply item as text (redis-py returns bytes)."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def pairs(flat: Sequence[Any]) -> dict[str, str]:
    """A flat ``[field, value, ...]`` reply (``HGETALL``) as a dict of texts.

    Every advance reads its run's hash this way: the common reply (all bytes) is decoded
    without a call per item.
    """
    items = iter(flat)
    try:
        return {
            field.decode("utf-8"): value.decode("utf-8") for field, value in zip(items, items, strict=True)
        }
    except AttributeError:  # an item that is not bytes (a number from a script)
        return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}


def num(value: float) -> str:
    """A float as exact text for a script argument.

    Seventeen significant digits always read back as the same double (in Lua's ``tonumber``,
    Redis's score parsing and Python's ``float``); printing them costs about two thirds of
    ``repr``'s search for the shortest such text, and a worker prints about eight timestamps per
    workflow this way. The text may be longer than ``repr``'s (``0.10000000000000001``) and an
    integral value has no ``.0``; every reader parses it as a number.
    """
    return format(float(value), ".17g")


def assemble_branches(fields: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Turn the branches hash (record plus ``|s``, ``|hb``, ``|started``, ``|r``, ``|pk``, ``|h``
    fields) into dicts."""
    branches: dict[str, dict[str, Any]] = {}
    for field, value in fields.items():
        if "|" not in field:
            branches.setdefault(field, {}).update(json.loads(value))
    for field, value in fields.items():
        key, sep, part = field.partition("|")
        if not sep or key not in branches:
            continue
        if part == "s":
            branches[key]["s"] = int(value)
        elif part in ("hb", "started", "pk"):
            branches[key][part] = float(value)
        elif part in ("r", "h"):
            branches[key][part] = json.loads(value)
    return branches


def encode_operation(op: Operation, expiry: Sequence[str]) -> list[str]:
    """One commit operation as ``kind, arguments...``: script arguments, as lua/commit.lua reads them.

    Every argument is a text and each kind has a fixed count of them (``append``: the number of
    entries, then the entries), so the script reads its arguments in place: no JSON document to
    decode, and no JSON text (an entry, a record) escaped inside another. An absent value (no
    timer, no output, a deleted record) is the empty text, which none of them can be. ``expiry``
    is ``(retention, expire_at)`` for a finishing run, or ``("", "")`` if runs are kept forever.
    """
    # the most frequent first: this runs at every step boundary
    if isinstance(op, AppendEntries):
        return ["append", str(len(op.entries)), *[entry.to_json() for entry in op.entries]]
    if isinstance(op, StartAttempt):
        return ["start_attempt", op.entry.to_json()]
    if isinstance(op, SetOpen):
        return ["open", op.entry.to_json() if op.entry is not None else ""]
    if isinstance(op, Park):
        timer = num(op.timer) if op.timer is not None else ""
        return ["park", str(op.signals), COMPACT(list(op.waiting)), op.status.value, timer]
    if isinstance(op, Finish):
        output = op.output if op.output is not None else ""
        return ["finish", op.status.value, output, COMPACT(op.error) if op.error is not None else "", *expiry]
    if isinstance(op, ConsumeEvent):
        return ["consume", op.event_type, op.event_id]
    if isinstance(op, WriteBranch):
        return ["branch", op.key, COMPACT(op.record) if op.record is not None else ""]
    if isinstance(op, SetStatus):
        return ["status", op.status.value]
    if isinstance(op, DeliverCancel):
        return ["deliver_cancel"]
    if isinstance(op, NewGeneration):
        return ["new_generation", op.args]
    return unknown_operation(op)


def flatten(mapping: dict[Any, Any]) -> list[Any]:
    """A dict as a flat ``[key, value, ...]`` list (``HSET`` arguments)."""
    flat: list[Any] = []
    for key, value in mapping.items():
        flat += [key, value]
    return flat
