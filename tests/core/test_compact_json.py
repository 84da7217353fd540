"""flowgen.compact_json writes exactly what json.JSONEncoder writes, and keeps its checks."""

from __future__ import annotations

import json
import math

import pytest

from flowgen.compact_json import compact_encoder

VALUES = [
    None,
    True,
    0,
    -12,
    1.5,
    1e300,
    "plain",
    'é \u2603 "quoted" \\ \n',
    [],
    {},
    {"a": [1, 2.25, {"b": None, "c": [True, False]}], "é": "ü"},
    [[["deep"]]],
]


@pytest.mark.parametrize("value", VALUES)
def test_output_is_the_standard_encoders(value: object) -> None:
    standard = json.JSONEncoder(separators=(",", ":"))
    assert compact_encoder()(value) == standard.encode(value)
    unicode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert compact_encoder(ensure_ascii=False, allow_nan=False, check_circular=True)(value) == unicode.encode(
        value
    )


def test_a_cycle_is_refused_when_checked() -> None:
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="Circular reference"):
        compact_encoder(check_circular=True)(cyclic)


def test_nan_is_refused_unless_allowed() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        compact_encoder(allow_nan=False)(math.nan)
    assert compact_encoder()(math.nan) == "NaN"


def test_default_tags_unknown_types_and_without_it_they_are_refused() -> None:
    encode = compact_encoder(default=lambda value: {"set": sorted(value)})
    assert encode({"s": {2, 1}}) == '{"s":{"set":[1,2]}}'
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_encoder()({1, 2})
