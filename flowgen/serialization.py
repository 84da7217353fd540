"""Encode arguments, results, payloads and errors for the journal.

JSON is the default. Beyond JSON's own types it round-trips ``datetime``, ``date``, ``time``,
``timedelta``, ``UUID``, ``Decimal``, ``bytes``, sets, enums, dataclasses and attrs classes
(tagged objects ``{"__flowgen__": tag, ...}``); tuples come back as lists, which is why the
engine always sends a workflow the *decoded* value, on the first run as on replay.

cloudpickle is opt-in per engine and needs a secret key: every pickled value is sealed with an
HMAC-SHA256 over the run id, the slot (the journal position, ``args``, ``event:<id>``...) and the
blob, checked before anything is unpickled. Unpickling unsigned data read from a store would
hand code execution to anyone able to write to it.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import hmac
import importlib
import json
import traceback as traceback_module
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs

from .errors import (
    ConfigurationError,
    PayloadTooLargeError,
    SerializationError,
    StepFailedError,
    TamperedDataError,
)

TAG = "__flowgen__"
PICKLE_PREFIX = "!pickle1:"
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_CAUSE_DEPTH = 5
#: The key of a step's failure record holding how many attempts ran (``error.flowgen_attempts``).
ATTEMPTS_KEY = "attempts"


def class_path(cls: type) -> str:
    """Return ``module:qualname``, the form :func:`import_class` reads back."""
    return f"{cls.__module__}:{cls.__qualname__}"


def import_class(path: str) -> Any:
    """Import ``module:qualname`` (or ``module.qualname`` for builtins) and return the object."""
    module_name, _, qualname = path.partition(":")
    if not qualname:
        module_name, _, qualname = path.rpartition(".")
        module_name = module_name or "builtins"
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as error:
        raise SerializationError(
            f"cannot find {path!r} in this process ({error}); the class must be importable by "
            "every process that reads the journal"
        ) from error
    return obj


def _tagged(tag: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {TAG: tag, "v": value, **extra}


def _encode_default(value: Any) -> Any:
    """``json.dumps`` hook for the types JSON lacks."""
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
        return _tagged("frozenset" if isinstance(value, frozenset) else "set", list(value))
    if isinstance(value, enum.Enum):
        return _tagged("enum", value.value, cls=class_path(type(value)))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _tagged("dataclass", fields, cls=class_path(type(value)))
    if attrs.has(type(value)):
        return _tagged("attrs", attrs.asdict(value, recurse=False), cls=class_path(type(value)))
    if isinstance(value, BaseException):
        return _tagged("exception", error_record(value))
    raise TypeError(f"cannot encode a {type(value).__module__}.{type(value).__qualname__}")


def _build_instance(cls: Any, fields: dict[str, Any], kind: str, path: str) -> Any:
    if kind == "dataclass":
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise SerializationError(f"{path!r} is not a dataclass; refusing to build it")
        init = {f.name for f in dataclasses.fields(cls) if f.init}
    else:
        if not (isinstance(cls, type) and attrs.has(cls)):
            raise SerializationError(f"{path!r} is not an attrs class; refusing to build it")
        init = {(a.alias or a.name.lstrip("_")) for a in attrs.fields(cls) if a.init}
        fields = {
            (a.alias or a.name.lstrip("_")): fields[a.name] for a in attrs.fields(cls) if a.name in fields
        }
    obj = cls(**{k: v for k, v in fields.items() if k in init})
    for name, value in fields.items():
        if name not in init:
            object.__setattr__(obj, name, value)
    return obj


def _decode_hook(obj: dict[str, Any]) -> Any:
    tag = obj.get(TAG)
    if tag is None or "v" not in obj:
        return obj
    value = obj["v"]
    if tag == "datetime":
        return datetime.fromisoformat(value)
    if tag == "date":
        return date.fromisoformat(value)
    if tag == "time":
        return time.fromisoformat(value)
    if tag == "timedelta":
        return timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    if tag == "uuid":
        return UUID(value)
    if tag == "decimal":
        return Decimal(value)
    if tag == "bytes":
        return base64.b64decode(value)
    if tag == "set":
        return set(value)
    if tag == "frozenset":
        return frozenset(value)
    if tag == "exception":
        return rebuild_error(value)
    if tag in ("enum", "dataclass", "attrs"):
        path = obj.get("cls", "")
        cls = import_class(path)
        if tag == "enum":
            if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
                raise SerializationError(f"{path!r} is not an Enum; refusing to build it")
            return cls(value)
        return _build_instance(cls, value, tag, path)
    return obj


# Built once: ``json.dumps``/``json.loads`` with options build a new encoder/decoder per call,
# which is a measurable share of a step boundary's client CPU (docs/performance.md).
_ENCODER = json.JSONEncoder(
    default=_encode_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_DECODER = json.JSONDecoder(object_hook=_decode_hook)


def dumps_json(value: Any) -> str:
    """Encode ``value`` as compact JSON with flowgen's tagged types (``TypeError`` if impossible)."""
    return _ENCODER.encode(value)


def loads_json(text: str) -> Any:
    """Decode text written by :func:`dumps_json`."""
    if isinstance(text, str):
        return _DECODER.decode(text)
    return json.loads(text, object_hook=_decode_hook)


# -- errors ------------------------------------------------------------------------------------


def _safe_json(value: Any) -> Any:
    """Return ``value`` as a plain JSON tree (tagged types as dicts), or ``None`` if it cannot be."""
    try:
        return json.loads(dumps_json(value))
    except (TypeError, ValueError):
        return None


def _from_tree(tree: Any) -> Any:
    """Decode a tree made by :func:`_safe_json` back into values (tags rebuilt)."""
    return loads_json(json.dumps(tree))


def error_record(error: BaseException, traceback_text: str | None = None, _depth: int = 0) -> dict[str, Any]:
    """Describe an exception so another process can rebuild it (or a ``StepFailedError``)."""
    if traceback_text is None:
        traceback_text = "".join(traceback_module.format_exception(type(error), error, error.__traceback__))
    args: Any = None
    state: Any = None
    try:
        reduced = error.__reduce__()
        if isinstance(reduced, tuple) and len(reduced) >= 2 and reduced[0] is type(error):
            args = _safe_json(list(reduced[1]))
            if len(reduced) >= 3 and isinstance(reduced[2], dict):
                state = _safe_json(reduced[2]) or None
    except Exception:  # a broken __reduce__ must not hide the original error
        args = None
    record: dict[str, Any] = {
        "type": class_path(type(error)),
        "message": str(error),
        "args": args,
        "traceback": traceback_text,
    }
    if state:
        record["state"] = state
    cause = error.__cause__
    if cause is not None and _depth < MAX_CAUSE_DEPTH:
        record["cause"] = error_record(cause, None, _depth + 1)
    return record


def _instantiate(cls: Any, record: dict[str, Any]) -> BaseException:
    """Build an exception of ``cls`` from its recorded args and attributes.

    Calling the class with its ``args`` works for most exceptions; one whose ``__init__``
    takes other parameters than it passes to ``Exception.__init__`` is created without
    calling ``__init__`` (as ``copy`` would), then given its args and attributes back.
    """
    if not (isinstance(cls, type) and issubclass(cls, Exception)) or record.get("args") is None:
        raise SerializationError("not rebuildable")
    args = _from_tree(record["args"])
    state = _from_tree(record.get("state") or {})
    try:
        error = cls(*args)
    except Exception:
        error = cls.__new__(cls, *args)
        error.args = tuple(args)
    for key, value in state.items():
        setattr(error, key, value)
    str(error)  # a __str__ that needs attributes we could not restore makes it unusable
    return error


def rebuild_error(record: dict[str, Any]) -> BaseException:
    """Rebuild the exception ``record`` describes, or a ``StepFailedError`` carrying its text."""
    type_name = str(record.get("type", "builtins:Exception"))
    message = str(record.get("message", ""))
    traceback_text = str(record.get("traceback") or "")
    error: BaseException
    try:
        error = _instantiate(import_class(type_name), record)
    except Exception:
        error = StepFailedError(type_name.replace(":", "."), message, traceback_text)
    if "cause" in record and error.__cause__ is None:
        error.__cause__ = rebuild_error(record["cause"])
    error.flowgen_traceback = traceback_text  # type: ignore[attr-defined]
    if ATTEMPTS_KEY in record:
        error.flowgen_attempts = int(record[ATTEMPTS_KEY])  # type: ignore[attr-defined]
    if traceback_text and hasattr(error, "add_note"):
        error.add_note(f"flowgen: the error was raised where the step ran:\n{traceback_text.rstrip()}")
    return error


# -- the serializer -----------------------------------------------------------------------------


class Serializer:
    """Encode and decode journal values for one engine.

    Args:
        pickle: encode values with cloudpickle instead of JSON (needs ``secret_key``).
        secret_key: the HMAC key that seals pickled values; without it pickled values are
            refused, both ways.
        max_payload_bytes: the largest encoded value accepted.
    """

    def __init__(
        self,
        *,
        pickle: bool = False,
        secret_key: bytes | str | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        if isinstance(secret_key, str):
            secret_key = secret_key.encode("utf-8")
        if pickle and not secret_key:
            raise ConfigurationError(
                "cloudpickle serialization needs a secret key: pass secret_key=... (at least 16 bytes, "
                "the same on every process of the deployment). Unsigned pickles read back from the "
                "store would let anyone who can write to it run code in your workers."
            )
        if secret_key is not None and len(secret_key) < 16:
            raise ConfigurationError("secret_key must be at least 16 bytes long")
        self.pickle = pickle
        self.secret_key = secret_key
        self.max_payload_bytes = max_payload_bytes

    def _signature(self, run_id: str, slot: str, blob: bytes) -> str:
        assert self.secret_key is not None
        mac = hmac.new(self.secret_key, digestmod=hashlib.sha256)
        for part in (run_id.encode("utf-8"), slot.encode("utf-8"), blob):
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.hexdigest()

    def encode(self, value: Any, *, run_id: str, slot: str, what: str) -> str:
        """Return ``value`` as text for the journal.

        Args:
            run_id, slot: where the value is stored; pickled values are bound to both.
            what: how to name the value in errors, e.g. "the result of step 'charge'".

        Raises:
            SerializationError: the value cannot be encoded (names ``what`` and the type).
            PayloadTooLargeError: the encoded value is over the limit.
        """
        if self.pickle:
            import cloudpickle

            try:
                blob = cloudpickle.dumps(value)
            except Exception as error:
                raise SerializationError(
                    f"cannot pickle {what} ({type(value).__qualname__}): {error}"
                ) from error
            text = f"{PICKLE_PREFIX}{self._signature(run_id, slot, blob)}:{base64.b64encode(blob).decode('ascii')}"
        else:
            try:
                text = dumps_json(value)
            except (TypeError, ValueError) as error:
                raise SerializationError(
                    f"cannot encode {what} as JSON: {error} (a {type(value).__module__}."
                    f"{type(value).__qualname__}). Use JSON types, datetimes, UUIDs, Decimals, "
                    "dataclasses or attrs classes, or Engine(serializer='pickle', secret_key=...)"
                ) from error
        size = len(text.encode("utf-8")) if not text.isascii() else len(text)
        if size > self.max_payload_bytes:
            raise PayloadTooLargeError(
                f"{what} is {size} bytes once encoded, over the limit of {self.max_payload_bytes} bytes; "
                "store large data elsewhere (a database, object storage) and pass a reference, or "
                "raise the limit with Engine(max_payload_bytes=...)"
            )
        return text

    def decode(self, text: str, *, run_id: str, slot: str) -> Any:
        """Return the value ``text`` encodes, verifying the signature of pickled values first."""
        if text.startswith(PICKLE_PREFIX):
            return self._unpickle(text, run_id, slot)
        try:
            return loads_json(text)
        except ValueError as error:
            raise SerializationError(f"corrupt JSON value at {run_id}/{slot}: {error}") from error

    def _unpickle(self, text: str, run_id: str, slot: str) -> Any:
        if not self.secret_key:
            raise TamperedDataError(
                f"the value at {run_id}/{slot} is pickled but this engine has no secret_key to verify it; "
                "configure the same secret_key as the engine that wrote it"
            )
        try:
            signature, encoded = text[len(PICKLE_PREFIX) :].split(":", 1)
            blob = base64.b64decode(encoded, validate=True)
        except ValueError as error:
            raise TamperedDataError(f"malformed pickled value at {run_id}/{slot}") from error
        if not hmac.compare_digest(signature, self._signature(run_id, slot, blob)):
            raise TamperedDataError(
                f"the signature of the pickled value at {run_id}/{slot} does not match: it was altered, "
                "moved from another run or position, or written with another secret_key; refusing to unpickle it"
            )
        import cloudpickle

        return cloudpickle.loads(blob)

    def roundtrip(self, value: Any, *, run_id: str, slot: str, what: str) -> tuple[str, Any]:
        """Encode ``value`` and decode it back; the workflow always sees the decoded form."""
        text = self.encode(value, run_id=run_id, slot=slot, what=what)
        return text, self.decode(text, run_id=run_id, slot=slot)
