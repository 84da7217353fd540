"""Test helpers for flowgen workflows: a synchronous runner with virtual time, mocks, replay checks.

Three ways to test a workflow (``docs/testing.md`` shows each):

1. Drive its generator by hand with ``next()``, ``send()`` and ``throw()``: no engine at all.
2. :class:`Runner`: the production engine logic over an in-memory store, in the test's thread,
   with virtual time (:meth:`Runner.advance`), mocked steps (:meth:`Runner.mock`) and recorded
   step calls (:meth:`Runner.calls`). Safe under ``freezegun``. The pytest fixture
   ``flowgen_runner`` gives each test a fresh one.
3. End to end with a worker (``Engine("memory://")``, SQLite or Redis).

:func:`verify_replay` checks that current code still replays journals exported from real runs
(``flowgen export RUN_ID``), so CI fails before a change breaks runs that are in flight;
:func:`verify_runs` checks many (files, or an engine's live runs) and names every divergence.
"""

from __future__ import annotations

from ..errors import NonDeterminismError
from ..transports.inline import InlineTransport
from .clock import RunnerClock
from .errors import RunBlockedError, RunnerError
from .handles import RunnerRun
from .mocks import Call, StepMock, call
from .replay import ReplayResult, load_export, verify_replay
from .runner import Runner
from .verify_runs import ReplayCheck, verify_runs

__all__ = [
    "Call",
    "InlineTransport",
    "NonDeterminismError",
    "ReplayCheck",
    "ReplayResult",
    "RunBlockedError",
    "Runner",
    "RunnerClock",
    "RunnerError",
    "RunnerRun",
    "StepMock",
    "call",
    "load_export",
    "verify_replay",
    "verify_runs",
]
