"""Compact JSON encoders that call the C encoder directly.

``json.JSONEncoder.encode`` goes through two Python layers (``encode``, then ``iterencode``,
which builds a C encoder object on every call) before the C code runs: about 85 bytecodes per
call, and the engine encodes about fourteen documents per 3-step workflow (journal entries, open
entries, commits, values). :func:`compact_encoder` builds the C encoder once (or, when cycles
must be detected, once per call but without the Python layers) and returns a plain function.
The output is byte for byte what ``json.JSONEncoder(separators=(",", ":"), ...)`` writes.

:func:`number` writes a number as the encoder does, but remembers the text of recent floats
(:mod:`flowgen.journal` writes its hot documents with it): ``repr(float)`` costs about 7,800 instructions
for a timestamp (the shortest text that reads back exactly, with big-number arithmetic), and a
3-step workflow writes each of its step timestamps twice (in the open entry, then in the closed
one: the entry's start, the attempt's start and finish).
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable
from typing import Any

Encode = Callable[[Any], str]


def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def compact_encoder(
    *,
    default: Callable[[Any], Any] | None = None,
    ensure_ascii: bool = True,
    allow_nan: bool = True,
    check_circular: bool = False,
) -> Encode:
    """A function encoding a value as compact JSON (``separators=(",", ":")``).

    ``check_circular=False`` is for documents the engine builds itself (no cycles); values that
    come from user code keep the check (a cycle raises ``ValueError``, not ``RecursionError``).
    """
    default = default or _not_serializable
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the standard encoder
        return json.JSONEncoder(
            default=default,
            separators=(",", ":"),
            ensure_ascii=ensure_ascii,
            allow_nan=allow_nan,
            check_circular=check_circular,
        ).encode
    strings = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    if check_circular:

        def encode_checked(value: Any) -> str:
            return "".join(make({}, default, strings, None, ":", ",", False, False, allow_nan)(value, 0))

        return encode_checked
    encoder = make(None, default, strings, None, ":", ",", False, False, allow_nan)

    def encode(value: Any) -> str:
        return "".join(encoder(value, 0))

    return encode


_ENCODE = compact_encoder()
_FLOAT_TEXT: Callable[[float], str] = float.__repr__
_TEXTS: dict[float, str] = {}
_REMEMBERED = 512
"""How many float texts :func:`number` keeps (all dropped at once when full): a step's
timestamps are written again within milliseconds, by the same thread."""


def number(value: Any) -> str:
    """``value`` as the compact encoder writes it; a positive finite float's text is remembered.

    The text of a float is ``float.__repr__``, as the C encoder writes it; anything else
    (ints, ``None``, zero, negative, infinite or NaN floats) is encoded as before, unremembered
    (so ``-0.0`` and ``0.0``, or ``1`` and ``1.0``, which are equal keys, never share a text).
    """
    if type(value) is float:
        text = _TEXTS.get(value)  # only positive finite floats are ever remembered
        if text is not None:
            return text
        if 0.0 < value < math.inf:
            if len(_TEXTS) >= _REMEMBERED:
                _TEXTS.clear()
            text = _TEXTS[value] = _FLOAT_TEXT(value)
            return text
    return _ENCODE(value)
