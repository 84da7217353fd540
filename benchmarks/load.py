"""A background load for the "under load" latency figures, run as its own process.

``python -m benchmarks.load flowgen|raw URL RATE SECONDS`` sends ``RATE`` units of work per
second for ``SECONDS`` seconds (or until SIGTERM), in small batches every :data:`TICK`
seconds: 3-step workflow runs (``engine.start_many``) for ``flowgen``, no-op messages for
``raw``. Running it in its own process keeps its CPU out of the latency probes' process (it
still competes for the machine's cores, as real clients do). It prints how many it sent and
at what rate it actually managed.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

TICK = 0.01


def run_load(kind: str, url: str, rate: float, seconds: float) -> tuple[int, float]:
    """Send ``rate`` runs or messages per second for ``seconds``; return (sent, elapsed)."""
    os.environ["FLOWGEN_BENCH_REDIS_URL"] = url
    # The stop handler goes in first: a SIGTERM that arrives while the engine is still being
    # built must end the load cleanly (a count of 0), not kill the process with no output.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    closing: list[Callable[[], None]] = []
    if kind == "flowgen":
        import flowgen

        from .apps import three_steps

        engine = flowgen.Engine(url)
        closing.append(engine.close)

        def send(count: int) -> None:
            engine.start_many(three_steps, [((), None, None)] * count)

    elif kind == "raw":
        from . import raw_app

        def send(count: int) -> None:
            raw_app.enqueue_many(raw_app.noop, [()] * count)

    else:
        raise SystemExit(f"unknown load kind {kind!r}: use flowgen or raw")
    started = time.monotonic()
    sent = 0
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if elapsed >= seconds:
            break
        due = int(rate * elapsed) - sent
        if due > 0:
            due = min(due, 1000)
            send(due)
            sent += due
        stop.wait(TICK)
    elapsed = time.monotonic() - started
    for close in closing:
        close()
    return sent, elapsed


def main(argv: list[str]) -> int:
    kind, url, rate, seconds = argv[0], argv[1], float(argv[2]), float(argv[3])
    sent, elapsed = run_load(kind, url, rate, seconds)
    print(f"sent {sent} in {elapsed:.2f}s ({sent / elapsed:.0f}/s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
