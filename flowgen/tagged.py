"""flowgen's tagged JSON: JSON plus the Python types it lacks, and data that stays data.

Beyond JSON's own types it round-trips ``datetime``, ``date``, ``time``, ``timedelta``,
``UUID``, ``Decimal``, ``bytes``, sets, enums, dataclasses, attrs classes, pydantic models and exceptions as
tagged objects ``{"__flowgen__": <tag>, "v": ..., ...}``. Tuples come back as lists (and
subclasses of ``dict``, ``list`` and ``str`` as the base type), which is why the engine always
hands a workflow the *decoded* value, on the first run as on replay.

User data never turns into flowgen's types:

* a dict holding the key ``"__flowgen__"``, or a key JSON would change (``1``, ``None``, a
  ``UUID``...), is written as ``{"__flowgen__": "dict", "v": [[key, value], ...]}`` and comes
  back exactly, its keys with their types; a tuple key (it would come back as an unhashable
  list) is refused when encoding;
* decoding never imports a module, and builds enums, dataclasses, attrs classes and exceptions
  only from :mod:`flowgen.allowlist`; encoding refuses a class decoding could not build;
* a malformed tagged value raises :class:`~flowgen.errors.SerializationError`, never another
  exception (callers name the position).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs

from . import allowlist, error_records, schemas
from .compact_json import compact_encoder
from .errors import SerializationError

TAG = "__flowgen__"

_SCALARS = frozenset({str, int, float, bool, type(None)})
SCALARS = _SCALARS
"""The exact types tagged JSON gives back unchanged (a decoded scalar equals the one encoded)."""


def _tagged(tag: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {TAG: tag, "v": value, **extra}


# -- encoding -------------------------------------------------------------------------------


def prepare(value: Any) -> Any:
    """Return ``value`` with every dict JSON would alter rewritten as a tagged pair list.

    The same object comes back when nothing needs rewriting (the common case): plain data
    costs one walk, no copy. The checks run in C where they can: ``"".join`` of a dict's keys
    fails on a key that is not a string, and a container whose items are all JSON scalars
    needs no closer look. This walk is most of what tagged JSON costs over plain ``json``
    (docs/performance.md).
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return _prepare_dict(value)
    if kind is list or kind is tuple:
        return _prepare_list(value)
    if isinstance(value, dict):
        return _prepare_dict(value)
    if isinstance(value, (list, tuple)):
        return _prepare_list(value)
    return value


def _prepare_dict(value: dict[Any, Any]) -> Any:
    if TAG in value:
        return _escaped(value)
    try:
        "".join(value)
    except TypeError:
        return _escaped(value)
    if _SCALARS.issuperset(map(type, value.values())):
        return value
    return _rewritten(value, value.items(), dict)


def _prepare_list(value: list[Any] | tuple[Any, ...]) -> Any:
    if _SCALARS.issuperset(map(type, value)):
        return value
    return _rewritten(value, enumerate(value), list)


def _rewritten(container: Any, items: Any, copy_as: Callable[[Any], Any]) -> Any:
    """``container``, or a copy with its prepared items where preparing changed them."""
    copy = None
    for index, item in items:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is dict:
            prepared = _prepare_dict(item)
        elif kind is list:
            prepared = _prepare_list(item)
        else:
            prepared = prepare(item)
        if prepared is not item:
            if copy is None:
                copy = copy_as(container)
            copy[index] = prepared
    return container if copy is None else copy


def _escaped(value: dict[Any, Any]) -> dict[str, Any]:
    """A dict JSON would alter, as ``{"__flowgen__": "dict", "v": [[key, value], ...]}``."""
    return _tagged("dict", [[_key(key), prepare(item)] for key, item in value.items()])


def _key(key: Any) -> Any:
    """A dict key or set member, refused when it would come back as an unhashable list."""
    if isinstance(key, tuple):
        raise TypeError(
            f"the dict key or set member {key!r} is a tuple; JSON brings tuples back as lists, which "
            "cannot be dict keys or set members: use a str or a frozenset, or the pickle serializer"
        )
    return key


def _class_of(value: Any, kind: str) -> str:
    cls = type(value)
    if not allowlist.is_allowed(cls, kind):
        raise SerializationError(allowlist.not_allowed_message(allowlist.class_path(cls)))
    return allowlist.class_path(cls)


def _encode_default(value: Any) -> Any:
    """``json.JSONEncoder.default``: tag the types JSON lacks (their contents prepared too)."""
    if isinstance(value, datetime):
        return _tagged("datetime", value.isoformat())
    if isinstance(value, date):
        return _tagged("date", value.isoformat())
    if isinstance(value, time):
        return _tagged("time", value.isoformat())
    if isinstance(value, timedelta):
        return _tagged("timedelta", [value.days, value.seconds, value.microseconds])
    if isinstance(value, UUID):
        return _tagged("uuid", str(value))
    if isinstance(value, Decimal):
        return _tagged("decimal", str(value))
    if isinstance(value, (bytes, bytearray)):
        return _tagged("bytes", base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(value, (set, frozenset)):
        members = [prepare(_key(member)) for member in value]
        return _tagged("frozenset" if isinstance(value, frozenset) else "set", members)
    if isinstance(value, enum.Enum):
        return _tagged("enum", prepare(value.value), cls=_class_of(value, "enum"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _tagged("dataclass", prepare(fields), cls=_class_of(value, "dataclass"))
    if attrs.has(type(value)):
        fields = attrs.asdict(value, recurse=False)
        return _tagged("attrs", prepare(fields), cls=_class_of(value, "attrs"))
    if isinstance(value, BaseException):
        return _tagged("exception", error_records.error_record(value))
    if schemas.is_model(value):
        return _tagged("pydantic", prepare(value.model_dump(mode="json")), cls=_class_of(value, "pydantic"))
    raise TypeError(f"cannot encode a {type(value).__module__}.{type(value).__qualname__}")


# Built once: ``json.dumps``/``json.loads`` with options build a new encoder/decoder per call,
# which is a measurable share of a step boundary's client CPU (docs/performance.md).
_ENCODE = compact_encoder(default=_encode_default, ensure_ascii=False, allow_nan=False, check_circular=True)
_ENCODE_SCALAR = compact_encoder(ensure_ascii=False, allow_nan=False)
"""For a bare scalar: nothing can refer to itself, so no cycle check (:mod:`flowgen.compact_json`)."""


def dumps_json(value: Any) -> str:
    """Encode ``value`` as compact tagged JSON.

    Raises:
        TypeError / ValueError: JSON cannot hold the value (a type, NaN, a tuple key).
        SerializationError: a class that is not on the allow-list.
    """
    if type(value) in _SCALARS:
        return _ENCODE_SCALAR(value)  # most step results (None, a str, a number): nothing to walk
    return _ENCODE(prepare(value))


# -- decoding -------------------------------------------------------------------------------


def _expect(value: Any, kind: type, tag: str) -> Any:
    if not isinstance(value, kind):
        raise SerializationError(
            f"a tagged {tag} holds {type(value).__name__} {value!r:.80}, not a {kind.__name__}"
        )
    return value


def _pairs(value: Any) -> dict[Any, Any]:
    if not isinstance(value, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in value):
        raise SerializationError("a tagged dict holds something else than a list of [key, value] pairs")
    return dict(value)


# Each raises on a value of the wrong shape (TypeError, ValueError...); loads_json turns that
# into a SerializationError.
_SIMPLE: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timedelta": lambda v: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "uuid": UUID,
    "decimal": lambda v: Decimal(_expect(v, str, "decimal")),
    "bytes": lambda v: base64.b64decode(v, validate=True),
    "set": lambda v: set(_expect(v, list, "set")),
    "frozenset": lambda v: frozenset(_expect(v, list, "frozenset")),
    "dict": _pairs,
    "exception": lambda v: error_records.rebuild_error(_expect(v, dict, "exception"), decoded=True),
}


def _build(obj: dict[str, Any], tag: str, value: Any) -> Any:
    cls = allowlist.resolve(obj.get("cls"), tag)
    if tag == "enum":
        return cls(value)
    if tag == "pydantic":
        return cls.model_validate(value)  # type: ignore[attr-defined]
    fields = _expect(value, dict, tag)
    if tag == "dataclass":
        init = {f.name for f in dataclasses.fields(cls) if f.init}
    else:
        init = {(a.alias or a.name.lstrip("_")) for a in attrs.fields(cls) if a.init}
        fields = {
            (a.alias or a.name.lstrip("_")): fields[a.name] for a in attrs.fields(cls) if a.name in fields
        }
    built = cls(**{k: v for k, v in fields.items() if k in init})
    for name, item in fields.items():
        if name not in init:
            object.__setattr__(built, name, item)
    return built


def _decode_hook(obj: dict[str, Any]) -> Any:
    if TAG not in obj:
        return obj
    tag = obj[TAG]
    decode = _SIMPLE.get(tag) if type(tag) is str else None
    if decode is not None and "v" in obj:
        return decode(obj["v"])
    if tag in ("enum", "dataclass", "attrs", "pydantic") and "v" in obj:
        return _build(obj, tag, obj["v"])
    raise SerializationError(
        f"unknown or incomplete tagged value {str(tag)[:40]!r} (was it written by a newer flowgen?)"
    )


_DECODER = json.JSONDecoder(object_hook=_decode_hook)


def loads_json(text: str | bytes) -> Any:
    """Decode text written by :func:`dumps_json`.

    Raises:
        SerializationError: anything wrong with it (malformed JSON, a malformed or unknown
            tagged value, a class outside the allow-list); the original error is the cause.
    """
    try:
        return _DECODER.decode(text if isinstance(text, str) else text.decode("utf-8"))
    except SerializationError:
        raise
    except Exception as error:
        raise SerializationError(f"{type(error).__name__}: {error}") from error


def from_tree(tree: Any) -> Any:
    """Decode a plain JSON tree made by :func:`to_tree` (its tagged dicts rebuilt)."""
    return loads_json(json.dumps(tree))


def to_tree(value: Any) -> Any:
    """Return ``value`` as a plain JSON tree (tagged types as dicts), or ``None`` if it cannot be."""
    try:
        return json.loads(dumps_json(value))
    except (TypeError, ValueError, SerializationError):
        return None
