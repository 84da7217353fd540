"""Make every advance message this process sends be delivered twice.

A worker importing this module (with ``tests.apps.faults``) sends two ``flowgen.advance``
messages wherever flowgen sends one: on start, timer wake-ups, parallel step reports, events,
reconciliation. A start whose message the ``create`` script enqueues
(``flowgen.transports.start_enqueue``) gets its copy through the transport. Both copies go through the real broker and may be picked up at the same time by
two worker threads; a timer wake-up handed to a free thread of the firing process
(``enqueue_here``) gets its copy through the broker, racing the handed one. The number of extra
copies is counted in the ledger (``test:duplicates``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowgen.transports import start_enqueue
from flowgen.transports.dramatiq import DramatiqTransport
from tests.apps.faults_common import ledger

DUPLICATES = "test:duplicates"
_original: Any = None
_original_here: Any = None
_original_start: Any = None


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
    global _original_here
    _original_here = DramatiqTransport.enqueue_here

    def enqueue_here_and_copy(self: DramatiqTransport, run_ids: Sequence[str]) -> None:
        ids = list(run_ids)
        _original_here(self, ids)
        _original(self, ids)
        if ids:
            ledger().incrby(DUPLICATES, len(ids))

    DramatiqTransport.enqueue_here = enqueue_here_and_copy  # type: ignore[method-assign]
    global _original_start
    _original_start = start_enqueue.start_now

    def start_and_copy(store: Any, transport: Any, runs: Sequence[Any], now: float, grace: float, send: Any) -> Any:
        results = _original_start(store, transport, runs, now, grace, send)
        if results is not None:
            ids = [run.run_id for run, flag, (made, _) in zip(runs, send, results, strict=True) if flag and made]
            if ids:
                _original(transport, ids)
                ledger().incrby(DUPLICATES, len(ids))
        return results

    start_enqueue.start_now = start_and_copy


def uninstall() -> None:
    global _original
    global _original_here
    global _original_start
    if _original is not None:
        DramatiqTransport.enqueue = _original  # type: ignore[method-assign]
        DramatiqTransport.enqueue_here = _original_here  # type: ignore[method-assign]
        start_enqueue.start_now = _original_start
        _original = _original_here = _original_start = None


install()
