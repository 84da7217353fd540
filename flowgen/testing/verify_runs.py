"""``verify_runs``: replay many journals at once, from files or from an engine's live runs.

:func:`~flowgen.testing.verify_replay` checks one journal and raises; before a deploy one wants
every run in flight checked and every divergence named. :func:`verify_runs` does that (and
``flowgen verify`` is a front end to it): it never raises for a run that would not replay, it
reports it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from ..errors import NonDeterminismError, WorkflowNotFoundError
from ..search import build_query
from ..status import FINISHED, RunStatus
from .replay import load_export, verify_replay


@attrs.frozen
class ReplayCheck:
    """The outcome of replaying one journal.

    Attributes:
        source: the file it came from, or the run id of a live run.
        run_id / workflow: the run.
        error: ``None`` when it replays; else the ``NonDeterminismError`` (or, when the code no
            longer declares the workflow, the ``WorkflowNotFoundError``) its next resume would hit.
        positions: how many journal entries were replayed (``None`` on an error).
    """

    source: str
    run_id: str
    workflow: str
    error: NonDeterminismError | WorkflowNotFoundError | None
    positions: int | None

    @property
    def ok(self) -> bool:
        """Whether the run replays, so that the current code can resume it."""
        return self.error is None


def _check(source: str, document: Mapping[str, Any], secret_key: bytes | str | None) -> ReplayCheck:
    try:
        result = verify_replay(document["workflow"], document, secret_key=secret_key)
    except (NonDeterminismError, WorkflowNotFoundError) as error:
        return ReplayCheck(source, document["run_id"], document["workflow"], error, None)
    return ReplayCheck(source, document["run_id"], document["workflow"], None, result.positions)


def verify_runs(
    engine: Any = None,
    *,
    files: Iterable[str | os.PathLike[str]] = (),
    workflow: str | None = None,
    created_after: Any = None,
    include_finished: bool = False,
    secret_key: bytes | str | None = None,
) -> list[ReplayCheck]:
    """Replay exported journal ``files``, or the runs of ``engine``, against the current code.

    Args:
        engine: check its runs in flight (``include_finished``: all runs), of ``workflow`` and
            created at or after ``created_after`` when given.
        files: check these exported journals instead (``flowgen export``).
        secret_key: the key of an engine whose journals are sealed.

    Returns:
        One :class:`ReplayCheck` per run, in order; those with ``ok`` false would fail on resume.

    Raises:
        ValueError: a file that is no flowgen journal export, or a bad filter.
        OSError: a file that cannot be read.
    """
    return list(_checks(engine, files, workflow, created_after, include_finished, secret_key))


def _checks(
    engine: Any,
    files: Iterable[str | os.PathLike[str]],
    workflow: str | None,
    created_after: Any,
    include_finished: bool,
    secret_key: bytes | str | None,
) -> Iterator[ReplayCheck]:
    paths = list(files)
    if paths:
        for path in paths:
            yield _check(os.fspath(path), load_export(path), secret_key)
        return
    if engine is None:
        raise ValueError("verify_runs needs an engine (its live runs) or files (exported journals)")
    statuses = None if include_finished else [s.value for s in RunStatus if s not in FINISHED]
    query = build_query(status=statuses, workflow=workflow, created_after=created_after, limit=None)
    for run_id in engine._select(query):
        yield _check(run_id, engine.export(run_id), secret_key)
