"""The three kinds of engine the harness suites (tests/control, tests/aio) run each test on.

``runner``: the testing :class:`~flowgen.testing.Runner` (memory store, virtual time); ``redis``:
an engine on the tests' redis-server with real worker threads; ``sqlite``: an embedded engine on
a file. Each suite wraps what :func:`engine_of_kind` gives in its own ``Env``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowgen
from flowgen.testing import Runner

KINDS = ("runner", "redis", "sqlite")


@contextlib.contextmanager
def engine_of_kind(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, *, threads: int
) -> Iterator[Runner | flowgen.Engine]:
    """A Runner, or an engine of ``kind`` with ``threads`` worker threads, closed afterwards."""
    if kind == "runner":
        with Runner() as runner:
            yield runner
    elif kind == "redis":
        url = request.getfixturevalue("redis_url")
        with flowgen.Engine(url, timer_interval=0.05) as engine, engine.worker(threads=threads):
            yield engine
    else:
        with flowgen.Engine(f"sqlite:///{tmp_path}/runs.db", timer_interval=0.05, threads=threads) as engine:
            yield engine
