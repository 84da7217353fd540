"""Make every advance message this process sends be delivered twice.

A worker importing this module (with ``tests.apps.faults``) sends two ``flowgen.advance``
messages wherever flowgen sends one: on start, timer wake-ups, parallel step reports, events,
reconciliation. Both copies go through the real broker and may be picked up at the same time by
two worker threads. The number of extra copies is counted in the ledger (``test:duplicates``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowgen.transports.dramatiq import DramatiqTransport
from tests.apps.faults_common import ledger

DUPLICATES = "test:duplicates"
_original: Any = None


def install() -> None:
    """Patch the transport class of this process so each advance message is sent twice."""
    global _original
    if _original is not None:
        return
    _original = DramatiqTransport.enqueue

    def enqueue_twice(self: DramatiqTransport, run_ids: Sequence[str]) -> None:
        ids = list(run_ids)
        _original(self, ids + ids)
        if ids:
            ledger().incrby(DUPLICATES, len(ids))

    DramatiqTransport.enqueue = enqueue_twice  # type: ignore[method-assign]


def uninstall() -> None:
    global _original
    if _original is not None:
        DramatiqTransport.enqueue = _original  # type: ignore[method-assign]
        _original = None


install()
