"""What the runtime is configured with, and how a workflow call becomes a new run's stored arguments."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from typing import Any

import attrs

from .. import slots
from ..errors import SerializationError
from ..serialization import Serializer


@attrs.define
class Settings:
    """Engine settings the runtime needs.

    Attributes:
        lease_ttl: seconds a run's lease lasts without renewal.
        grace: seconds a run may sit in the ready index after an enqueue before the reconciler
            enqueues it again (also: how long a dispatched branch message may wait unstarted).
        journal_warn: log a warning when a run's journal passes this many entries.
        journal_limit: fail a run whose journal reaches this many entries.
        cache_size: live generators kept per process so a resumed run skips replay.
        version: the code version runs started here record (``None``: from package metadata).
    """

    lease_ttl: float = 10.0
    grace: float = 15.0
    journal_warn: int = 2000
    journal_limit: int = 10000
    cache_size: int = 256
    version: str | None = None


def fingerprint(workflow: str, args_text: str) -> str:
    """Digest of a run's workflow and encoded arguments, to detect a reused run id."""
    return hashlib.sha256(f"{workflow}\0{args_text}".encode()).hexdigest()[:32]


def encode_call(
    serializer: Serializer,
    run_id: str,
    workflow: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    version: str | None = None,
) -> str:
    """Encode a workflow call's arguments (and the code version starting it) for a new run."""
    call: dict[str, Any] = {"args": list(args), "kwargs": dict(kwargs)}
    if version is not None:
        call["version"] = version
    return serializer.encode(
        call, run_id=run_id, slot=slots.ARGS, what=f"the arguments of workflow {workflow!r}"
    )


def encode_new_call(
    serializer: Serializer,
    run_id: str,
    workflow: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    version: str | None,
    given: tuple[Sequence[Any], dict[str, Any]] | None = None,
) -> tuple[str, str]:
    """``(stored call, fingerprint)`` of a new run; the fingerprint leaves the version out.

    ``given``: the arguments as the caller gave them, when ``args``/``kwargs`` are those
    converted to the workflow's schemas. The fingerprint is then that of the call as given, so
    a process that has the workflow's code (and converts) and one that has not (and stores the
    call as given) agree on what "the same call" of a run id is (docs/versioning.md). Given
    arguments that cannot be encoded (an object only a schema turns into data) fall back to the
    converted ones.
    """
    plain = encode_call(serializer, run_id, workflow, args, kwargs)
    stored = plain if version is None else encode_call(serializer, run_id, workflow, args, kwargs, version)
    printed = plain
    if given is not None:
        with contextlib.suppress(SerializationError):
            printed = encode_call(serializer, run_id, workflow, given[0], given[1])
    return stored, fingerprint(workflow, printed)
