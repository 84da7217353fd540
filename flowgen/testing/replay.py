"""``verify_replay``: check that current workflow code still replays a recorded journal.

``Engine.export(run_id)`` (or ``flowgen export RUN_ID``) writes a run's journal as a JSON
document. Keep such documents from real runs next to your tests; :func:`verify_replay` feeds
every recorded outcome to the *current* code with the pure :class:`~flowgen.interpreter.Replayer`
and the runtime's own entry decoding, exactly as a worker does when it resumes the run, and
raises :class:`~flowgen.errors.NonDeterminismError` at the first position where the code yields a
different command than the one recorded. No step runs, nothing is written anywhere.

A change that passes cannot break the in-flight runs those journals stand for; a change that
fails would make them fail on their next resume.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import attrs

from .. import slots
from ..decoding import decode_call
from ..decoding import recorded as recorded_entry
from ..decorators import Registry, Workflow
from ..decorators import registry as default_registry
from ..errors import NonDeterminismError, WorkflowNotFoundError
from ..inspection import EXPORT_FORMAT
from ..interpreter import Complete, Decision, Execute, Fail, Recorded, Replayer, describe_command
from ..journal import Entry, OpenEntry
from ..serialization import Serializer
from ..status import FINISHED, RunStatus

__all__ = ["EXPORT_FORMAT", "ReplayResult", "load_export", "verify_replay"]


@attrs.frozen
class ReplayResult:
    """What a successful :func:`verify_replay` checked.

    Attributes:
        run_id / workflow / status: from the exported document.
        positions: how many journal entries were replayed.
        next_command: the command the current code yields after the last entry (described as
            ``kind 'name'``), or ``None`` when it returns or raises there.
    """

    run_id: str
    workflow: str
    status: str
    positions: int
    next_command: str | None


def load_export(exported: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """Return an exported journal document given as a dict or as the path of its JSON file.

    Raises:
        ValueError: the document is not a flowgen journal export.
    """
    if isinstance(exported, Mapping):
        document = dict(exported)
        source = "the exported document"
    else:
        with open(os.fspath(exported), encoding="utf-8") as file:
            document = json.load(file)
        source = repr(os.fspath(exported))
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(
            f"{source} is not a flowgen journal export (format {found!r}, expected {EXPORT_FORMAT!r}); "
            "write one with `flowgen export RUN_ID` or Engine.export(run_id)"
        )
    missing = [key for key in ("run_id", "workflow", "status", "args", "entries") if key not in document]
    if missing:
        raise ValueError(f"{source} lacks the field(s) {', '.join(missing)}")
    return document


def _resolve_workflow(workflow: Workflow | str, registry: Registry) -> Workflow:
    if isinstance(workflow, Workflow):
        return workflow
    if isinstance(workflow, str):
        return registry.workflow(workflow)
    raise TypeError(f"expected a @flowgen.workflow or a workflow name, got {workflow!r}")


def _ending(decision: Decision) -> str:
    """Describe how a workflow that yields no further command ended."""
    if isinstance(decision, Complete):
        return "a return (the workflow finishing)"
    assert isinstance(decision, Fail)
    return f"a raised {type(decision.error).__name__}: {decision.error}"


def verify_replay(
    workflow: Workflow | str,
    exported: Mapping[str, Any] | str | os.PathLike[str],
    *,
    secret_key: bytes | str | None = None,
    registry: Registry | None = None,
) -> ReplayResult:
    """Replay the current code of ``workflow`` against an exported journal; raise on divergence.

    Every recorded outcome is fed back into a fresh generator of ``workflow`` called with the
    run's recorded arguments; at each position the command the code yields must have the kind
    and name recorded there. Beyond the closed entries:

    * a run recorded as **completed** must end (return or raise) where it ended;
    * a run still **in flight** (waiting, running, queued, paused) must yield the command it is
      parked on, when the document records it (``open``);
    * a **failed** or **cancelled** run is not checked past its last entry: it never resumes.

    No step body runs and nothing is written. Patches are replayed as a worker replays them: a
    ``patched()`` where the journal (or the parked command) holds something else is the old
    branch, ``deprecate_patch()`` replays past a recorded marker (docs/versioning.md).

    Args:
        workflow: the workflow (or its registered name) whose current code is checked.
        exported: the document ``Engine.export`` returned, or the path of a file holding it.
        secret_key: the engine's key, needed for journals an engine with a key wrote (sealed).
        registry: where a workflow given by name is looked up (default: the global registry).

    Returns:
        A :class:`ReplayResult` saying what was checked.

    Raises:
        NonDeterminismError: the code diverges; ``position``, ``recorded`` and ``new`` say where,
            what the journal holds there and what the code yields now.
        WorkflowNotFoundError: the journal belongs to a workflow of another name (a run in
            flight looks its workflow up by that name and would not find it).
        ValueError: ``exported`` is not a flowgen journal export.
    """
    document = load_export(exported)
    code = _resolve_workflow(workflow, registry or default_registry)
    if document["workflow"] != code.name:
        raise WorkflowNotFoundError(
            f"the journal of run {document['run_id']!r} was recorded by workflow {document['workflow']!r}, "
            f"but verify_replay was given {code.name!r}; runs in flight find their workflow by name, so a "
            f"renamed workflow no longer resumes them (keep the old name with @flowgen.workflow(name=...))"
        )
    serializer = Serializer(secret_key=secret_key)
    run_id = document["run_id"]
    status = document["status"]
    generation = int(document.get("generation", 0))
    entries = [Entry.from_dict(item) for item in document["entries"]]
    args, kwargs = decode_call(serializer, document["args"], run_id=run_id, slot=slots.ARGS)
    opened = document.get("open")
    parked = OpenEntry.from_json(json.dumps(opened)) if status not in FINISHED and opened else None
    replayer = Replayer(
        code(*args, **kwargs),
        parked=None if parked is None else (parked.position, parked.kind, parked.name),
    )

    def recorded(entry: Entry) -> Recorded:
        return recorded_entry(serializer, run_id, generation, entry)

    try:
        decision = replayer.replay(recorded(entry) for entry in entries)
        end = len(entries)
        if status == RunStatus.COMPLETED and isinstance(decision, Execute):
            raise NonDeterminismError(
                end, "the end of the workflow (the run completed here)", describe_command(decision.command)
            )
        if parked is not None:
            if not isinstance(decision, Execute):
                raise NonDeterminismError(
                    parked.position,
                    f"{parked.kind} {parked.name!r} (the run is parked on it)",
                    None,
                    f"the current code ends with {_ending(decision)}",
                )
            command = decision.command
            if command.kind != parked.kind or command.name != parked.name:
                raise NonDeterminismError(
                    parked.position,
                    f"{parked.kind} {parked.name!r} (the run is parked on it)",
                    describe_command(command),
                )
    finally:
        replayer.close()
    next_command = describe_command(decision.command) if isinstance(decision, Execute) else None
    return ReplayResult(run_id, document["workflow"], status, len(entries), next_command)
