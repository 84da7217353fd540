"""The flowgen pytest plugin, registered through the ``pytest11`` entry point.

It provides the ``flowgen_runner`` fixture: a fresh :class:`flowgen.testing.Runner` per test,
closed after it. Nothing is imported from flowgen until a test asks for the fixture, so having
flowgen installed costs other projects' test sessions nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flowgen.testing import Runner


@pytest.fixture
def flowgen_runner() -> Iterator[Runner]:
    """A fresh synchronous runner with virtual time and its own in-memory store, for one test."""
    from flowgen.testing import Runner

    runner = Runner()
    try:
        yield runner
    finally:
        runner.close()
