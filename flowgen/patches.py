"""Patches: change a workflow's code under runs that are in flight.

``if (yield flowgen.patched("charge-v2")): new code, else: old code`` puts a **patch marker** in
the journal at that yield position the first time a run reaches it, and the run takes the new
branch. A run that passed that position under the old code has something else journaled there
(or its open entry is there): for it the same ``yield`` returns ``False`` without taking a
position, so it replays the old branch exactly as it ran. Once no run without the marker is
left, replace the call by ``yield flowgen.deprecate_patch("charge-v2")`` and keep only the new
branch: runs that recorded the marker replay past it, new runs record nothing. Once those are
gone too, delete the line. (The semantics fit a journal keyed by position; see
docs/versioning.md.)

The decision is made by :class:`~flowgen.interpreter.Replayer` (pure), with :func:`marker_value`.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from .errors import WorkflowYieldError
from .yieldable import Yieldable

PATCH_KIND = "patch"
"""The journal ``kind`` of a patch marker; its ``name`` is the patch id."""

MAX_PATCH_ID = 200


def check_patch_id(patch_id: object, what: str) -> str:
    """Return ``patch_id`` if it is a usable patch id, else raise ``TypeError``/``ValueError``."""
    if not isinstance(patch_id, str):
        raise TypeError(
            f"{what}: the patch id must be a str such as 'charge-v2', got {patch_id!r} "
            f"({type(patch_id).__name__})"
        )
    if (
        not patch_id
        or len(patch_id) > MAX_PATCH_ID
        or not patch_id.isprintable()
        or patch_id != patch_id.strip()
    ):
        raise ValueError(
            f"{what}: the patch id {patch_id!r} must be 1 to {MAX_PATCH_ID} printable characters without "
            "leading or trailing spaces"
        )
    return patch_id


@attrs.frozen
class Patched(Yieldable[bool]):
    """``yield flowgen.patched(id)``: ``True`` on the new code path, ``False`` for runs that predate it."""

    kind: ClassVar[str] = PATCH_KIND
    name: str

    def describe(self) -> str:
        """The command as the workflow wrote it, for messages."""
        return f"patched({self.name!r})"


@attrs.frozen
class DeprecatedPatch(Yieldable[bool]):
    """``yield flowgen.deprecate_patch(id)``: always ``True``; replays past a recorded marker."""

    kind: ClassVar[str] = PATCH_KIND
    name: str

    def describe(self) -> str:
        """The command as the workflow wrote it, for messages."""
        return f"deprecate_patch({self.name!r})"


def patched(patch_id: str) -> Patched:
    """Yield to learn whether this run takes the new code path of patch ``patch_id``.

    ``True`` for runs that reach this point under the code that has the patch (the marker is
    journaled), ``False`` for runs that had already passed it under the old code.
    """
    return Patched(check_patch_id(patch_id, "flowgen.patched()"))


def deprecate_patch(patch_id: str) -> DeprecatedPatch:
    """Yield where ``patched(patch_id)`` was, once no run that predates the patch remains.

    It always gives ``True``; a run that recorded the marker replays past it, a new run records
    nothing, so the line can be deleted once those runs are gone too.
    """
    return DeprecatedPatch(check_patch_id(patch_id, "flowgen.deprecate_patch()"))


def marker_value(patch_id: str, deprecated: bool, recorded: tuple[str, str] | None) -> bool | None:
    """What a patch command gives without taking a journal position, or ``None`` if it takes one.

    ``deprecated``: the command is ``deprecate_patch(patch_id)`` rather than ``patched``.
    ``recorded`` is the ``(kind, name)`` journaled (or open) at the command's position, ``None``
    when the run reaches that position for the first time.

    * ``patched``: the marker recorded there → ``None`` (replayed like any entry); something
      else recorded → ``False`` (the run predates the patch); nothing → ``None`` (the marker is
      journaled now, and the result is ``True``).
    * ``deprecate_patch``: the marker recorded there → ``None`` (replayed); else ``True``.
    """
    is_marker = recorded == (PATCH_KIND, patch_id)
    if not deprecated:
        if recorded is None or is_marker:
            return None
        return False
    return None if is_marker else True


def repeated_patch(patch_id: str, position: int) -> WorkflowYieldError:
    """The error of a patch id used twice on one run's path (each patch id marks one place)."""
    return WorkflowYieldError(
        f"the patch id {patch_id!r} is used a second time at position {position}; a patch id marks one "
        "place in a workflow: give each patched() its own id (such as 'charge-v2' and 'refund-v2')"
    )


__all__ = [
    "PATCH_KIND",
    "DeprecatedPatch",
    "Patched",
    "check_patch_id",
    "deprecate_patch",
    "marker_value",
    "patched",
    "repeated_patch",
]
