"""The supervisor of ``flowgen worker --processes N``: N worker processes, restarted when they crash.

The supervisor starts N ``flowgen worker`` processes, restarts one that exits while nobody asked
it to stop (a killed worker's runs are taken over by the others meanwhile), and forwards SIGTERM
and SIGINT to them. It exits once every worker has exited.

Signal handlers only record the signal; the supervision loop does everything else. So a signal
that arrives while a crashed worker waits for its restart cancels the restart, and one that
arrives while a worker is being started reaches that worker too, on the loop's next pass: no
worker is left running without a supervisor that will stop it. A worker notices when its
supervisor is gone (``SUPERVISOR_ENV``, see :mod:`flowgen.worker`) and stops by itself, which
covers a supervisor killed with SIGKILL.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

from .worker import SUPERVISOR_ENV

logger = logging.getLogger("flowgen.worker")

RESTART_DELAY = 1.0
"""Seconds between a worker's crash and its restart (a worker failing at start-up must not spin)."""

POLL = 0.1
"""Seconds between two passes of the supervision loop."""

STOPPED = (0, -signal.SIGTERM, -signal.SIGINT)
"""The exit statuses of a worker that stopped because it was told to."""


class _Slot:
    """One of the N places a worker process fills: the current process, or when to start the next."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.process: subprocess.Popen[bytes] | None = None
        self.restart_at: float | None = None
        self.signalled = 0
        self.last_code: int | None = None


def supervise(argv_for_child: list[str], processes: int, env: Mapping[str, str] | None = None) -> int:
    """Run ``processes`` worker processes (``python -m flowgen ARGV...``) until they have all stopped.

    Args:
        argv_for_child: the ``flowgen`` arguments of one worker process; never secrets (every
            user of the machine can read a command line): pass those in ``env``.
        env: the workers' environment (default: this process's).

    Returns:
        0 when every worker stopped because it was told to, else 1.
    """
    received: list[int] = []

    def record(signum: int, _frame: Any) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, record)
    signal.signal(signal.SIGINT, record)
    environment = {**(os.environ if env is None else env), SUPERVISOR_ENV: str(os.getpid())}
    slots = [_Slot(number) for number in range(processes)]

    def start(slot: _Slot) -> None:
        slot.process = subprocess.Popen([sys.executable, "-m", "flowgen", *argv_for_child], env=environment)
        slot.restart_at = None
        slot.signalled = 0
        logger.info("started worker process %d (pid %d)", slot.number, slot.process.pid)

    for slot in slots:
        start(slot)
    while True:
        running = False
        for slot in slots:
            process = slot.process
            if process is not None and process.poll() is None:
                running = True
                # Every signal received reaches every running worker once, whenever it started.
                for signum in received[slot.signalled :]:
                    process.send_signal(signum)
                slot.signalled = len(received)
                continue
            if process is not None:
                code = slot.last_code = int(process.returncode)
                slot.process = None
                if not received:
                    logger.error(
                        "worker process %d (pid %d) exited with %s; restarting it (in %.0fs)",
                        slot.number,
                        process.pid,
                        code,
                        RESTART_DELAY,
                    )
                    slot.restart_at = time.monotonic() + RESTART_DELAY
            if received:
                slot.restart_at = None  # stopping: a crashed worker is not started again
            elif slot.restart_at is not None:
                running = True
                if time.monotonic() >= slot.restart_at:
                    start(slot)
        if not running:
            break
        time.sleep(POLL)
    return 0 if all(slot.last_code in STOPPED for slot in slots) else 1
