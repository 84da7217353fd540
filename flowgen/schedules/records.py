"""JSON for the attrs records of schedules (spec, state): one encoding, fields read by name."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import attrs

T = TypeVar("T")


def record_json(record: Any) -> str:
    """Encode an attrs record as compact JSON with sorted keys (stable, so texts compare)."""
    return json.dumps(attrs.asdict(record), sort_keys=True, separators=(",", ":"))


def record_from_json(cls: type[T], text: str | bytes) -> T:
    """Build an attrs record from JSON, ignoring unknown fields (written by a newer flowgen)."""
    data = json.loads(text)
    return cls(**{field.name: data[field.name] for field in attrs.fields(cls) if field.name in data})  # type: ignore[arg-type]
