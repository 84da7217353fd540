"""Error records: an exception written down so another process can rebuild it, bounded in size.

A record is a JSON object:

``type``
    ``"module:qualname"`` of the exception class.
``message``
    ``str(error)``, at most :data:`ERROR_MESSAGE_LIMIT` characters: a longer message keeps its
    beginning and ends with ``… [truncated: N characters in all]``.
``args`` / ``state``
    the constructor arguments and the attributes, as JSON trees (:mod:`flowgen.tagged`), each
    string cut like a message; dropped (``null``) beyond :data:`ERROR_ARGS_LIMIT` characters,
    and the error then comes back as a ``StepFailedError`` carrying the type name and message.
``cause_at``
    the indexes of ``args`` that are the error's own ``__cause__``: that error is stored once,
    in ``cause``, not again inside the arguments (``StepRetriesExceededError`` wraps its last
    error that way).
``traceback``
    the formatted traceback, its last :data:`ERROR_TRACEBACK_LIMIT` characters, after a
    ``[truncated: N characters in all] …`` marker when cut.
``cause``
    the record of ``__cause__``, down to :data:`MAX_CAUSE_DEPTH` levels.
``seal``
    on engines with a secret key, the HMAC binding the record to its run and slot (see
    :mod:`flowgen.serialization`).

Rebuilding builds only classes on :mod:`flowgen.allowlist`; any other type, or arguments the
class does not accept, gives a :class:`~flowgen.errors.StepFailedError` with the recorded type
name, message and traceback. A record that is not of this shape raises
:class:`~flowgen.errors.SerializationError`.
"""

from __future__ import annotations

import json
import traceback as traceback_module
from typing import Any

from . import allowlist, tagged
from .errors import SerializationError, StepFailedError

ERROR_MESSAGE_LIMIT = 8 * 1024
"""Characters of an error's message kept in its record (and of each string in its arguments)."""
ERROR_TRACEBACK_LIMIT = 16 * 1024
"""Characters of a traceback kept in a record (the end, where the error was raised)."""
ERROR_ARGS_LIMIT = 32 * 1024
"""Characters of encoded arguments (and of attributes) kept in a record; beyond, they are dropped."""
SUMMARY_MESSAGE_LIMIT = 500
"""Characters of the message kept in the summary of a failed attempt."""
MAX_CAUSE_DEPTH = 5

ATTEMPTS_KEY = "attempts"
"""The key of a step's failure record holding how many attempts ran (``error.flowgen_attempts``)."""
_SLACK = 64
"""A text at most this much over a limit is kept whole: it may be a cut text and its marker."""

_REBUILT = frozenset({"flowgen_traceback", "__notes__"})
"""Attributes rebuild_error sets itself (from the traceback): never copied into ``state``."""


def truncate(text: str, limit: int = ERROR_MESSAGE_LIMIT) -> str:
    """Keep the first ``limit`` characters of ``text``, with a marker when it was longer."""
    if len(text) <= limit + _SLACK:
        return text
    return f"{text[:limit]}… [truncated: {len(text)} characters in all]"


def truncate_tail(text: str, limit: int = ERROR_TRACEBACK_LIMIT) -> str:
    """Keep the last ``limit`` characters of ``text``, with a marker when it was longer."""
    if len(text) <= limit + _SLACK:
        return text
    return f"[truncated: {len(text)} characters in all] …{text[-limit:]}"


def _cut_strings(tree: Any) -> Any:
    if isinstance(tree, str):
        return truncate(tree)
    if isinstance(tree, list):
        return [_cut_strings(item) for item in tree]
    if isinstance(tree, dict):
        return {key: _cut_strings(item) for key, item in tree.items()}
    return tree


def _bounded_tree(value: Any) -> Any:
    tree = tagged.to_tree(value)
    if tree is None:
        return None
    tree = _cut_strings(tree)
    return tree if len(json.dumps(tree)) <= ERROR_ARGS_LIMIT else None


def _text_of(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # a broken __str__ must not hide the original error
        return f"<{type(error).__qualname__} whose str() failed>"


def error_record(
    error: BaseException,
    traceback_text: str | None = None,
    *,
    cause_record: dict[str, Any] | None = None,
    _depth: int = 0,
) -> dict[str, Any]:
    """Describe ``error`` so another process can rebuild it (see the module docstring).

    Args:
        traceback_text: the traceback to keep (default: formatted from the error itself).
        cause_record: the record of ``error.__cause__`` when the caller already has it (it is
            then stored as given, not recorded again).
    """
    if traceback_text is None:
        traceback_text = "".join(traceback_module.format_exception(type(error), error, error.__traceback__))
    cause = error.__cause__
    args: Any = None
    cause_at: list[int] = []
    state: Any = None
    try:
        reduced = error.__reduce__()
        if isinstance(reduced, tuple) and len(reduced) >= 2 and reduced[0] is type(error):
            items = list(reduced[1])
            cause_at = [i for i, item in enumerate(items) if cause is not None and item is cause]
            args = _bounded_tree([None if i in cause_at else item for i, item in enumerate(items)])
            if len(reduced) >= 3 and isinstance(reduced[2], dict):
                attributes = {k: v for k, v in reduced[2].items() if k not in _REBUILT}
                state = _bounded_tree(attributes) if attributes else None
    except Exception:  # a broken __reduce__ must not hide the original error
        args = None
    record: dict[str, Any] = {
        "type": allowlist.class_path(type(error)),
        "message": truncate(_text_of(error)),
        "args": args,
        "traceback": truncate_tail(traceback_text),
    }
    if cause_at and args is not None:
        record["cause_at"] = cause_at
    if state:
        record["state"] = state
    if cause_record is not None:
        record["cause"] = {k: v for k, v in cause_record.items() if k != "seal"}
    elif cause is not None and _depth < MAX_CAUSE_DEPTH:
        record["cause"] = error_record(cause, None, _depth=_depth + 1)
    return record


def error_summary(record: dict[str, Any]) -> dict[str, Any]:
    """What a failed attempt keeps of its error: the type and the start of the message.

    The full record is stored once, where the step's outcome is (the entry's error, or the
    cause of the ``StepRetriesExceededError`` that wraps the last one).
    """
    return {
        "type": str(record.get("type", "")),
        "message": truncate(str(record.get("message", "")), SUMMARY_MESSAGE_LIMIT),
    }


def _size(record: dict[str, Any]) -> int:
    return len(json.dumps(record, ensure_ascii=False).encode("utf-8"))


def fit_record(record: dict[str, Any], limit: int) -> dict[str, Any]:
    """Return ``record`` shrunk to at most ``limit`` bytes of JSON (at least about 1 KiB).

    Drops arguments and attributes first (the error comes back as a ``StepFailedError``),
    then the deepest causes, then cuts the message and the traceback further.
    """
    if _size(record) <= limit:
        return record
    chain = []
    level: dict[str, Any] | None = record
    while level is not None:
        chain.append({k: v for k, v in level.items() if k not in ("args", "state", "cause_at", "cause")})
        level = level.get("cause")
    while True:
        fitted = chain[-1]
        for outer in reversed(chain[:-1]):
            fitted = {**outer, "cause": fitted}
        if _size(fitted) <= limit or len(chain) == 1:
            break
        chain.pop()
    if _size(fitted) > limit:
        room = max(limit // 4, 256)
        fitted = {
            **fitted,
            "message": truncate(str(fitted.get("message", "")), room),
            "traceback": truncate_tail(str(fitted.get("traceback") or ""), room),
        }
    return fitted


_FIELDS: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "message": (str,),
    "traceback": (str, type(None)),
    "args": (list, type(None)),
    "state": (dict, type(None)),
    "cause_at": (list,),
    "cause": (dict, type(None)),
    "seal": (str,),
    "attempts": (int,),
}


def check_record(record: Any, _depth: int = 0) -> dict[str, Any]:
    """Return ``record`` if it has the shape of an error record, else raise ``SerializationError``."""
    if not isinstance(record, dict):
        raise SerializationError(
            f"an error record is a {type(record).__name__} {record!r:.80}, not an object"
        )
    if "type" not in record:
        raise SerializationError("an error record has no 'type'")
    for field, kinds in _FIELDS.items():
        if field in record and not isinstance(record[field], kinds):
            raise SerializationError(
                f"the {field!r} of an error record is a {type(record[field]).__name__}, not "
                + " or ".join(kind.__name__ for kind in kinds)
            )
    if not all(type(i) is int for i in record.get("cause_at", ())):
        raise SerializationError("the 'cause_at' of an error record holds something else than indexes")
    if record.get("cause") is not None and _depth < MAX_CAUSE_DEPTH:
        check_record(record["cause"], _depth + 1)
    return record


def _instantiate(
    cls: Any, record: dict[str, Any], cause: BaseException | None, decoded: bool
) -> BaseException:
    """Build an exception of ``cls`` from its recorded args and attributes.

    Calling the class with its ``args`` works for most exceptions; one whose ``__init__``
    takes other parameters than it passes to ``Exception.__init__`` is created without
    calling ``__init__`` (as ``copy`` would), then given its args and attributes back.
    """
    if not issubclass(cls, Exception) or record.get("args") is None:
        raise SerializationError("not rebuildable")
    args = list(record["args"] if decoded else tagged.from_tree(record["args"]))
    state = record.get("state") or {}
    state = state if decoded else tagged.from_tree(state)
    if not isinstance(state, dict) or any(not isinstance(k, str) or k.startswith("__") for k in state):
        raise SerializationError("not rebuildable")
    for index in record.get("cause_at", ()):
        if 0 <= index < len(args):
            args[index] = cause
    try:
        error: BaseException = cls(*args)
    except Exception:
        error = cls.__new__(cls, *args)
        error.args = tuple(args)
    for key, value in state.items():
        setattr(error, key, value)
    str(error)  # a __str__ that needs attributes we could not restore makes it unusable
    return error


def rebuild_error(record: Any, *, decoded: bool = False, _depth: int = 0) -> BaseException:
    """Rebuild the exception ``record`` describes, or a ``StepFailedError`` carrying its text.

    Args:
        decoded: the record's arguments are already values (a record inside a tagged value),
            not JSON trees (a record of the journal).

    Raises:
        SerializationError: ``record`` is not an error record.
    """
    check_record(record)
    type_name = record["type"]
    message = record.get("message", "")
    traceback_text = record.get("traceback") or ""
    cause_record = record.get("cause")
    cause = None
    if cause_record is not None and _depth < MAX_CAUSE_DEPTH:
        cause = rebuild_error(cause_record, decoded=decoded, _depth=_depth + 1)
    error: BaseException
    try:
        error = _instantiate(allowlist.resolve(type_name, "exception"), record, cause, decoded)
    except Exception:  # not on the allow-list, not here, or not rebuildable from its args
        error = StepFailedError(type_name.replace(":", "."), message, traceback_text)
    if cause is not None and error.__cause__ is None:
        error.__cause__ = cause
    error.flowgen_traceback = traceback_text  # type: ignore[attr-defined]
    if type(record.get(ATTEMPTS_KEY)) is int:
        error.flowgen_attempts = record[ATTEMPTS_KEY]  # type: ignore[attr-defined]
    if traceback_text and hasattr(error, "add_note"):
        error.add_note(f"flowgen: the error was raised where the step ran:\n{traceback_text.rstrip()}")
    return error
