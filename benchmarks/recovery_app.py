"""The workflow the recovery benchmark kills workers under (``benchmarks/recovery.py``).

``bench.recovery`` runs one step, :func:`hold`, that writes a line to the ledger file
(``FLOWGEN_RECOVERY_LEDGER``) every time an attempt starts, then holds its thread for ten
minutes if it runs in the process named by the "doomed" file (``FLOWGEN_RECOVERY_DOOMED``: the
process the benchmark is about to kill) and returns at once anywhere else. The ledger says when
each run moved again after the kill, and where.

Run as a module (``python -m benchmarks.recovery_app FILE THREADS LEASE_TTL COUNT``) it is the
embedded side: an ``Engine("sqlite:///FILE")`` with its own worker threads that starts COUNT
runs itself (so they carry its own grace) and then waits to be killed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Generator
from typing import Any

import flowgen

HOLD = 600.0


def _doomed() -> int | None:
    path = os.environ.get("FLOWGEN_RECOVERY_DOOMED")
    try:
        with open(path or "", encoding="utf-8") as file:
            return int(file.read().strip() or 0)
    except (OSError, ValueError):
        return None


@flowgen.step(retries=0)
def hold(index: int) -> int:
    """Record this attempt's start in the ledger; hold the thread in the doomed process."""
    line = json.dumps(
        {
            "run": flowgen.step_context().run_id,
            "pid": os.getpid(),
            "at": time.time(),
            "attempt": flowgen.step_context().attempt,
        }
    )
    with open(os.environ["FLOWGEN_RECOVERY_LEDGER"], "a", encoding="utf-8") as file:
        file.write(line + "\n")
    if _doomed() == os.getpid():
        threading.Event().wait(HOLD)
    return index


@flowgen.workflow(name="bench.recovery")
def recovery(index: int) -> Generator[Any, Any, int]:
    """One step that the benchmark's doomed worker holds until it is killed."""
    return (yield hold(index))


def embedded(path: str, threads: int, lease_ttl: float, count: int, prefix: str) -> None:
    """An embedded engine that starts ``count`` runs (ids ``prefix-<n>``) and advances runs until killed."""
    engine = flowgen.Engine(f"sqlite:///{path}", threads=threads, lease_ttl=lease_ttl)
    for index in range(count):
        engine.start(recovery, index, run_id=f"{prefix}-{index}")
    print("started", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    embedded(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
