"""Encode arguments, results, payloads and errors for the journal, and seal them.

Values are tagged JSON by default (:mod:`flowgen.tagged`); cloudpickle is opt-in per engine.
Errors are JSON records (:mod:`flowgen.error_records`).

**Seals.** An engine with a ``secret_key`` seals everything a workflow or a step receives:
each value and each error record carries an HMAC-SHA256 over its bytes, what it is (a pickle,
JSON, an error record), the run id and its **slot** (:mod:`flowgen.slots`: the generation and
the journal position, the member of a combinator, the event type and id...). The reader
computes the slot itself and checks the seal before anything is decoded, unpickled or handed
over; a value without a seal is refused too. So a value altered in the store, moved to
another run, generation, position or event type, written without the key, or forged from
scratch is a :class:`~flowgen.errors.TamperedDataError`.

==============================  =============================================================
stored text                     what it is
==============================  =============================================================
``{"a": 1}``                    JSON, engines without a secret key
``!json1:<hmac>:{"a": 1}``      sealed JSON (``Engine(secret_key=...)``); readable by any tool
``!pickle2:<hmac>:<base64>``    sealed cloudpickle (``Engine(serializer="pickle", secret_key=...)``)
==============================  =============================================================

An error record is sealed by a ``"seal"`` field over its canonical JSON (sorted keys).
The pickle serializer needs a secret key: unpickling unsigned data read from a store would hand
code execution to anyone able to write to it. Seals are not encryption: whoever reads the store
reads the values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from . import slots
from .allowlist import class_path, register_type
from .error_records import (
    ERROR_MESSAGE_LIMIT,
    ERROR_TRACEBACK_LIMIT,
    MAX_CAUSE_DEPTH,
    error_record,
    fit_record,
    rebuild_error,
)
from .errors import ConfigurationError, PayloadTooLargeError, SerializationError, TamperedDataError
from .tagged import TAG, dumps_json, loads_json

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "ERROR_MESSAGE_LIMIT",
    "ERROR_TRACEBACK_LIMIT",
    "MAX_CAUSE_DEPTH",
    "TAG",
    "Serializer",
    "class_path",
    "dumps_json",
    "error_record",
    "loads_json",
    "rebuild_error",
    "register_type",
]

PICKLE_PREFIX = "!pickle2:"
SIGNED_JSON_PREFIX = "!json1:"
FORMER_PICKLE_PREFIX = "!pickle1:"
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
SEAL_ROOM = 100
"""Bytes kept free under ``max_payload_bytes`` for an error record's seal."""


def where(run_id: str, slot: str) -> str:
    """Name a value's place in an error message: ``"position 3 of run 'r'"``."""
    return f"{slots.describe(slot)} of run {run_id!r}"


def _canonical(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "seal"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Serializer:
    """Encode, decode and seal journal values and error records for one engine.

    Args:
        pickle: encode values with cloudpickle instead of JSON (needs ``secret_key``).
        secret_key: the HMAC key that seals values and error records (at least 16 bytes, the
            same on every process). With it, unsealed values are refused whatever the
            serializer; without it, pickled values are refused.
        max_payload_bytes: the largest encoded value accepted, and the size error records are
            cut down to.
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
        self.secret_key = secret_key or None
        self.max_payload_bytes = max_payload_bytes
        self._mac = hmac.new(self.secret_key, digestmod=hashlib.sha256) if self.secret_key else None

    @property
    def sealed(self) -> bool:
        """Whether values and error records are sealed and checked."""
        return self._mac is not None

    def _signature(self, kind: bytes, run_id: str, slot: str, payload: bytes) -> str:
        assert self._mac is not None
        mac = self._mac.copy()
        for part in (kind, run_id.encode("utf-8"), slot.encode("utf-8"), payload):
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.hexdigest()

    # -- values --------------------------------------------------------------------------------

    def encode(self, value: Any, *, run_id: str, slot: str, what: str) -> str:
        """Return ``value`` as text for the journal, sealed for ``run_id`` and ``slot``.

        Args:
            run_id, slot: where the value is stored (see :mod:`flowgen.slots`).
            what: how to name the value in errors, e.g. "the result of step 'charge'".

        Raises:
            SerializationError: the value cannot be encoded (names ``what`` and the type).
            PayloadTooLargeError: the encoded value is over the limit.
        """
        if self.pickle:
            text = self._pickle(value, run_id, slot, what)
        else:
            try:
                text = dumps_json(value)
            except SerializationError as error:
                raise SerializationError(f"cannot encode {what}: {error}") from error
            except (TypeError, ValueError) as error:
                raise SerializationError(
                    f"cannot encode {what} as JSON: {error} (a {type(value).__module__}."
                    f"{type(value).__qualname__}). Use JSON types, datetimes, UUIDs, Decimals, "
                    "dataclasses or attrs classes, or Engine(serializer='pickle', secret_key=...)"
                ) from error
            if self._mac is not None:
                signature = self._signature(b"json1", run_id, slot, text.encode("utf-8"))
                text = f"{SIGNED_JSON_PREFIX}{signature}:{text}"
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        if size > self.max_payload_bytes:
            raise PayloadTooLargeError(
                f"{what} is {size} bytes once encoded, over the limit of {self.max_payload_bytes} bytes; "
                "store large data elsewhere (a database, object storage) and pass a reference, or "
                "raise the limit with Engine(max_payload_bytes=...)"
            )
        return text

    def _pickle(self, value: Any, run_id: str, slot: str, what: str) -> str:
        import cloudpickle

        try:
            blob = cloudpickle.dumps(value)
        except Exception as error:
            raise SerializationError(f"cannot pickle {what} ({type(value).__qualname__}): {error}") from error
        signature = self._signature(b"pickle2", run_id, slot, blob)
        return f"{PICKLE_PREFIX}{signature}:{base64.b64encode(blob).decode('ascii')}"

    def decode(self, text: Any, *, run_id: str, slot: str) -> Any:
        """Return the value ``text`` encodes, checking its seal first on a sealed engine.

        Raises:
            TamperedDataError: the seal is missing, wrong or for another place.
            SerializationError: the text cannot be decoded (names the place and the run).
        """
        if not isinstance(text, str):
            raise SerializationError(
                f"{where(run_id, slot)} holds a {type(text).__name__}, not an encoded value"
            )
        if text[:1] == "!":
            if text.startswith(PICKLE_PREFIX):
                return self._unpickle(text, run_id, slot)
            text = self._open_signed_json(text, run_id, slot)
        elif self._mac is not None:
            raise TamperedDataError(
                f"{where(run_id, slot)} is not sealed, and this engine has a secret_key: it was written "
                "to the store without the key; refusing it"
            )
        try:
            return loads_json(text)
        except SerializationError as error:
            raise SerializationError(f"cannot decode {where(run_id, slot)}: {error}") from error

    def _split(self, text: str, prefix: str, run_id: str, slot: str) -> tuple[str, str]:
        signature, sep, body = text[len(prefix) :].partition(":")
        if not sep or len(signature) != 64:
            raise TamperedDataError(f"malformed sealed value at {where(run_id, slot)}")
        return signature, body

    def _check(self, signature: str, expected: str, run_id: str, slot: str) -> None:
        if not hmac.compare_digest(signature, expected):
            raise TamperedDataError(
                f"the seal of {where(run_id, slot)} does not match: it was altered, moved from another run, "
                "generation or position, or written with another secret_key; refusing it"
            )

    def _open_signed_json(self, text: str, run_id: str, slot: str) -> str:
        if not text.startswith(SIGNED_JSON_PREFIX):
            if text.startswith(FORMER_PICKLE_PREFIX):
                raise TamperedDataError(
                    f"{where(run_id, slot)} was sealed by a flowgen version whose seals did not bind the "
                    "generation; it cannot be verified (finish or restart such runs before upgrading)"
                )
            raise SerializationError(f"{where(run_id, slot)} is not a value flowgen wrote ({text[:20]!r}...)")
        signature, body = self._split(text, SIGNED_JSON_PREFIX, run_id, slot)
        if self._mac is not None:
            self._check(
                signature, self._signature(b"json1", run_id, slot, body.encode("utf-8")), run_id, slot
            )
        return body

    def _unpickle(self, text: str, run_id: str, slot: str) -> Any:
        if self._mac is None:
            raise TamperedDataError(
                f"{where(run_id, slot)} is pickled but this engine has no secret_key to verify it; "
                "configure the same secret_key as the engine that wrote it"
            )
        signature, encoded = self._split(text, PICKLE_PREFIX, run_id, slot)
        try:
            blob = base64.b64decode(encoded, validate=True)
        except ValueError as error:
            raise TamperedDataError(f"malformed pickled value at {where(run_id, slot)}") from error
        self._check(signature, self._signature(b"pickle2", run_id, slot, blob), run_id, slot)
        import cloudpickle

        try:
            return cloudpickle.loads(blob)
        except Exception as error:
            raise SerializationError(f"cannot unpickle {where(run_id, slot)}: {error}") from error

    def reseal(self, text: Any, *, run_id: str, from_slot: str, to_slot: str) -> str:
        """Check ``text``'s seal for ``from_slot`` and return it sealed for ``to_slot`` instead.

        An event payload is sealed for its event (type and id) while it waits in the inbox;
        once a wait takes it, the journal holds it sealed for that position. Engines without a
        key return the text as it is (decoding checks it).
        """
        if self._mac is None:
            return str(text)
        if not isinstance(text, str) or not text.startswith((PICKLE_PREFIX, SIGNED_JSON_PREFIX)):
            self.decode(text, run_id=run_id, slot=from_slot)  # raises: not a sealed value
            raise AssertionError("unreachable")
        prefix = PICKLE_PREFIX if text.startswith(PICKLE_PREFIX) else SIGNED_JSON_PREFIX
        kind = b"pickle2" if prefix == PICKLE_PREFIX else b"json1"
        signature, body = self._split(text, prefix, run_id, from_slot)
        payload = base64.b64decode(body) if prefix == PICKLE_PREFIX else body.encode("utf-8")
        self._check(signature, self._signature(kind, run_id, from_slot, payload), run_id, from_slot)
        return f"{prefix}{self._signature(kind, run_id, to_slot, payload)}:{body}"

    def roundtrip(self, value: Any, *, run_id: str, slot: str, what: str) -> tuple[str, Any]:
        """Encode ``value`` and decode it back; the workflow always sees the decoded form."""
        text = self.encode(value, run_id=run_id, slot=slot, what=what)
        return text, self.decode(text, run_id=run_id, slot=slot)

    # -- error records ---------------------------------------------------------------------------

    def error_record(
        self, error: BaseException, traceback_text: str | None = None, *, run_id: str, slot: str
    ) -> dict[str, Any]:
        """Record ``error`` (bounded, see :mod:`flowgen.error_records`) and seal it for the slot."""
        return self.seal_record(error_record(error, traceback_text), run_id=run_id, slot=slot)

    def seal_record(self, record: dict[str, Any], *, run_id: str, slot: str) -> dict[str, Any]:
        """Return ``record`` cut down to ``max_payload_bytes`` and, on a sealed engine, sealed."""
        fitted = fit_record(
            {k: v for k, v in record.items() if k != "seal"}, self.max_payload_bytes - SEAL_ROOM
        )
        if self._mac is None:
            return fitted
        return {**fitted, "seal": self._signature(b"error1", run_id, slot, _canonical(fitted))}

    def open_record(self, record: Any, *, run_id: str, slot: str) -> dict[str, Any]:
        """Return ``record`` once its seal is checked (on a sealed engine).

        Raises:
            TamperedDataError: the seal is missing or does not match.
            SerializationError: it is not an error record.
        """
        if not isinstance(record, dict):
            raise SerializationError(
                f"the error at {where(run_id, slot)} is a {type(record).__name__}, not a record"
            )
        if self._mac is not None:
            seal = record.get("seal")
            expected = self._signature(b"error1", run_id, slot, _canonical(record))
            if not isinstance(seal, str) or not hmac.compare_digest(seal, expected):
                raise TamperedDataError(
                    f"the error record at {where(run_id, slot)} is not sealed for it: it was forged, altered "
                    "or moved in the store; refusing it"
                )
        return record

    def rebuild(self, record: Any, *, run_id: str, slot: str) -> BaseException:
        """Check the seal of the error ``record`` at ``slot`` and rebuild the exception.

        Raises:
            TamperedDataError: see :meth:`open_record`.
            SerializationError: the record is malformed (names the place).
        """
        opened = self.open_record(record, run_id=run_id, slot=slot)
        try:
            return rebuild_error(opened)
        except SerializationError as error:
            raise SerializationError(
                f"the error record at {where(run_id, slot)} is malformed: {error}"
            ) from error
