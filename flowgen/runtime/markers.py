"""Evaluator: patch markers (``yield flowgen.patched(id)`` reached for the first time).

A run that reaches a ``patched()`` at a position nothing was journaled at takes the new code
path: the marker is journaled there, closed at once with ``True``. The other cases (a run that
predates the patch, ``deprecate_patch``) never reach an evaluator: the replayer answers them
without taking a position (:mod:`flowgen.patches`).
"""

from __future__ import annotations

from ..interpreter import Outcome
from ..journal import Entry
from ..patches import Patched
from .actions import Resolve
from .entries import slot
from .view import RunView


def patch_marker(view: RunView, position: int, command: Patched) -> Resolve:
    """Journal the marker of ``command`` at ``position``; the workflow receives ``True``."""
    text = view.serializer.encode(
        True, run_id=view.run_id, slot=slot(view, position), what=command.describe()
    )
    now = view.now
    entry = Entry(position, command.kind, command.name, True, value=text, started=now, finished=now)
    return Resolve(entry, Outcome.success(True))
