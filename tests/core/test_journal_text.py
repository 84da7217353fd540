"""Journal documents written without the standard encoder's float printing are the same bytes.

``Entry.to_json`` and ``OpenEntry.to_json`` write what ``compact_encoder()`` writes for the
same dict, byte for byte, while remembering the texts of timestamps
(:func:`flowgen.compact_json.number`), so every stored journal (old or new) reads back the same
and the text of a step's timestamp is computed once.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from flowgen.compact_json import compact_encoder, number
from flowgen.journal import Attempt, Entry, LeafOutcome, LeafState, OpenEntry, read_entry

STANDARD = compact_encoder()
NOW = 1796173040.3896651

NUMBERS: list[Any] = [
    None,
    True,
    False,
    0,
    -12,
    0.0,
    -0.0,
    1.0,
    1,
    1.5,
    NOW,
    -NOW,
    1e300,
    math.inf,
    -math.inf,
    math.nan,
]


@pytest.mark.parametrize("value", NUMBERS)
def test_number_is_the_compact_encoders_output(value: Any) -> None:
    assert number(value) == STANDARD(value)
    assert number(value) == STANDARD(value)  # the second time from a remembered text


def test_number_remembers_a_timestamps_text_and_keeps_equal_keys_apart() -> None:
    first = number(NOW + 1)
    assert first == repr(NOW + 1)
    assert number(NOW + 1) is first  # remembered, not printed again
    assert number(2.0) == "2.0" and number(2) == "2"  # equal as dict keys, different texts
    assert number(True) == "true"
    assert number(0.0) == "0.0" and number(-0.0) == "-0.0"
    assert number(math.inf) == "Infinity" and number(math.nan) == "NaN"


def test_number_keeps_writing_exact_texts_past_its_memory() -> None:
    values = [NOW + index / 7 for index in range(2000)]
    assert [number(value) for value in values] == [repr(value) for value in values]
    assert [float(number(value)) for value in values] == values


def _attempt(number_: int, *, finished: bool = True, **extra: Any) -> dict[str, Any]:
    attempt = Attempt(number_, NOW + number_, status="ok" if finished else "running")
    if finished:
        attempt.finished = NOW + number_ + 0.25
    for name, value in extra.items():
        setattr(attempt, name, value)
    return attempt.to_dict()


ENTRIES = [
    Entry(
        0, "step", "a", True, value='{"x":"é\\"q"}', started=NOW, finished=NOW + 0.1, attempts=(_attempt(1),)
    ),
    Entry(1, "step", "b", True, value=None, started=NOW, finished=NOW),
    Entry(
        2,
        "step",
        "c",
        False,
        error={"type": "ValueError", "message": "é", "at": NOW, "n": None},
        started=NOW,
        finished=NOW + 2,
        attempts=(_attempt(1, error={"type": "X"}, epoch=3), _attempt(2, epoch=4)),
        info={"event_id": "e-1", "weights": [1, 2.5]},
    ),
    Entry(3, "sleep", "", True, value="null", started=0.0, finished=-0.0),
    Entry(4, "step", "d", True, value="1", started=12, finished=13),  # integer times, as old data may hold
    Entry(
        5,
        "all_of",
        "",
        True,
        started=NOW,
        finished=NOW + 1,
        leaves={"0": {"kind": "step", "name": "x", "ok": True, "value": "1", "finished": NOW}},
        winners={"": 0},
    ),
    Entry(
        6,
        "step",
        "e",
        True,
        value="2",
        attempts=({"status": "ok", "n": 1, "started": NOW, "extra": [1, {2: 3}]},),
    ),
    Entry(7, "step", "f", True, value="3", attempts=(["not", {"an": "attempt"}],)),  # malformed stored data
]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: f"{entry.kind}-{entry.position}")
def test_a_closed_entry_is_written_byte_for_byte_as_its_dict(entry: Entry) -> None:
    text = entry.to_json()
    assert text == STANDARD(entry.to_dict())
    assert json.loads(text) == json.loads(STANDARD(entry.to_dict()))
    assert read_entry(text, entry.position).to_json() == text


def test_an_entry_stored_by_the_standard_encoder_reads_back_and_is_written_the_same() -> None:
    for entry in ENTRIES:
        stored = json.dumps(entry.to_dict())  # spaces after separators, as another writer may store
        again = read_entry(stored, entry.position)
        assert again.to_json() == STANDARD(again.to_dict())


def test_an_open_entry_is_written_byte_for_byte_as_before() -> None:
    leaves = {
        "": LeafState(
            "step", "a", attempts=[Attempt(1, NOW), Attempt(2, NOW + 1, "error", NOW + 2, {"t": "X"}, 7)]
        ),
        "1": LeafState("sleep", "", due=NOW + 60, next_at=NOW + 3, dispatched=2, dispatched_at=NOW + 4),
        "2": LeafState(
            "child", "w", child="run-1", outcome=LeafOutcome(True, "1", finished=NOW), info={"k": 1}
        ),
        "3": LeafState("step", "f", outcome=LeafOutcome(False, error={"type": "E"}, finished=NOW)),
    }
    entry = OpenEntry(7, "all_of", "", NOW, leaves)
    before = STANDARD(
        {
            "pos": 7,
            "kind": "all_of",
            "name": "",
            "started": NOW,
            "leaves": {path: leaf.to_dict() for path, leaf in leaves.items()},
        }
    )
    assert entry.to_json() == before
    assert OpenEntry.from_json(entry.to_json()) == entry
