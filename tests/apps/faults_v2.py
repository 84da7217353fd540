"""Version 2 of two fault-suite workflows: the same names as in :mod:`tests.apps.faults`, with a
step moved. A worker importing this module instead of ``tests.apps.faults`` plays the deploy of
changed code under in-flight runs."""

from __future__ import annotations

import flowgen
from tests.apps.faults_common import step_a, step_b, step_c


@flowgen.workflow(name="faults.versioned_closed")
def versioned_closed(n: int):
    """Version 2: c now runs before b (position 1 was b in version 1)."""
    first = yield step_a(n)
    third = yield step_c(n)
    second = yield step_b(n)
    go = yield flowgen.wait_for_event("go")
    return [first, third, second, go]


@flowgen.workflow(name="faults.versioned_open")
def versioned_open(n: int):
    """Version 2: b now runs before the wait (position 1 was the wait in version 1)."""
    first = yield step_a(n)
    second = yield step_b(n)
    go = yield flowgen.wait_for_event("go")
    return [first, second, go]
