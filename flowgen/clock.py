"""Where the engine reads the time: the wall clock in production, a virtual one in tests.

The wall clock reads ``time.time()`` through the module attribute at call time, so
``freezegun`` moves it too. The testing runner's virtual clock is
:class:`flowgen.testing.RunnerClock`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of Unix timestamps."""

    def now(self) -> float: ...


class WallClock:
    """The real time (or freezegun's, when it is active)."""

    def now(self) -> float:
        return time.time()
