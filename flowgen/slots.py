"""Where a value is stored, named as the seals bind it: a run's slots.

Every encoded value and error record is sealed (when the engine has a secret key) for one
**slot** of one run. Readers compute the slot from what they know — the run record's
generation, the position replay is at, the member path of the command, the event type the
workflow waits for — and never read it from the stored entry, so a value moved to another
run, generation, position or event type no longer verifies.

===============================  =====================================================
slot                             holds
===============================  =====================================================
``args``                         the run's arguments (kept across restarts)
``g<gen>/<pos>``                 the outcome at journal position ``pos``
``g<gen>/<pos>/<path>``          member ``path`` of the ``all_of``/``any_of`` at ``pos``
``g<gen>/<pos>/<path>:args``     the arguments of a step dispatched as its own message
``g<gen>/output``                the run's return value
``g<gen>/error``                 the error the run failed with
``event/<n>/<type>/<id>``        an event's payload while it waits in the inbox (``n`` is
                                 the length of the type, so no type can pose as another)
===============================  =====================================================
"""

from __future__ import annotations

ARGS = "args"


def key(pos: int, path: str = "") -> str:
    """A command's place without the generation: ``"3"``, or ``"3/1"`` for member 1 of an ``all_of``.

    It is what ``StepContext.position`` says and how dispatched steps are keyed.
    """
    return f"{pos}/{path}" if path else str(pos)


def position(generation: int, pos: int, path: str = "") -> str:
    """The slot of the outcome at ``pos`` (member ``path`` of a combinator, if given)."""
    return f"g{generation}/{pos}/{path}" if path else f"g{generation}/{pos}"


def branch_args(generation: int, key: str) -> str:
    """The slot of the arguments of the dispatched step ``key`` (``"<pos>/<path>"``)."""
    return f"g{generation}/{key}:args"


def output(generation: int) -> str:
    return f"g{generation}/output"


def run_error(generation: int) -> str:
    return f"g{generation}/error"


def event(event_type: str, event_id: str) -> str:
    return f"event/{len(event_type)}/{event_type}/{event_id}"


def describe(slot: str) -> str:
    """Name a slot for an error message: ``"position 3"``, ``"the run's arguments"``..."""
    if slot == ARGS:
        return "the run's arguments"
    if slot.startswith("event/"):
        length, _, rest = slot[len("event/") :].partition("/")
        size = int(length) if length.isdigit() else 0
        return f"the payload of event {rest[size + 1 :]!r} of type {rest[:size]!r}"
    rest = slot.partition("/")[2] if slot.startswith("g") else slot
    if rest.endswith(":args"):
        return f"the arguments of the step at position {rest[: -len(':args')]}"
    if rest in ("output", "error"):
        return f"the run's {rest}"
    pos, _, path = rest.partition("/")
    return f"position {pos}" + (f" (member {path})" if path else "")
