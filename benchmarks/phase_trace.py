"""Where a late timer's (or an idle probe's) milliseconds go: timestamps at each hop, per run.

``python -m benchmarks.phase_trace timers`` starts short sleepers (as :mod:`benchmarks.timers`
does) on ``flowgen worker`` processes that import this module instead of
:mod:`benchmarks.apps`; ``python -m benchmarks.phase_trace latency`` sends idle 3-step probes
(as the benchmark's latency phase does). Imported by a worker with ``FLOWGEN_BENCH_TRACE`` set
to a directory, this module wraps a few of flowgen's functions so that each process appends one
line per event (``event run_id wall-clock pid``) to its own file there:

* ``parked``: the advance that parked the run on its timer committed the park;
* ``tick``, ``claimed``, ``enqueued``: the timer poller's tick began, its claim returned the
  run, its enqueue returned (``due`` comes from the run's journal);
* ``fetched``: the consumer's fetch that brought the message returned; ``handed``: the consumer
  handed it to the worker threads; ``actor``: a worker thread started the advance actor;
* ``acquired``: the advance's lease call returned; ``committed``: a commit returned;
* ``woke`` (the timer runs' output): the time the resumed workflow read the clock.

The breakdown prints the quantiles of each hop and the slowest runs' hops in full. The wrapping
costs a few microseconds per event (a buffered write); it is a diagnostic, not a benchmark.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from .apps import k_dispatched, k_steps, noop, noop_dispatched, sleeper, three_steps  # noqa: F401

ENV = "FLOWGEN_BENCH_TRACE"


class _Log:
    """One process's event file (line-buffered writes under a lock; flushed at exit)."""

    def __init__(self, directory: str) -> None:
        self.file = open(os.path.join(directory, f"{os.getpid()}.log"), "a", buffering=1 << 16)  # noqa: SIM115
        self.lock = threading.Lock()
        atexit.register(self.file.flush)

    def __call__(self, event: str, run_id: str, when: float | None = None) -> None:
        stamp = time.time() if when is None else when
        with self.lock:
            self.file.write(f"{event} {run_id} {stamp:.6f} {os.getpid()}\n")
            self.file.flush()


def _install(log: _Log) -> None:
    """Wrap the functions each event is read from (see the module docstring)."""
    from flowgen.runtime import advance as advance_module
    from flowgen.services import Services
    from flowgen.stores.redis import RedisStore
    from flowgen.transports import dramatiq as dramatiq_module
    from flowgen.transports.doorbell import _DoorbellConsumer
    from flowgen.transports.dramatiq import DramatiqTransport

    fire = Services.fire_timers

    def fire_timers(self: Services) -> bool:
        began = time.time()
        claim = self.store.claim_due_timers
        enqueue = self.enqueue

        def claimed(now: float, batch: int, grace: float) -> list[str]:
            ids = claim(now, batch, grace)
            at = time.time()
            for run_id in ids:
                log("tick", run_id, began)
                log("claimed", run_id, at)
            return ids

        def enqueued(ids: Sequence[str]) -> None:
            enqueue(ids)
            at = time.time()
            for run_id in ids:
                log("enqueued", run_id, at)

        self.store.claim_due_timers, self.enqueue = claimed, enqueued  # type: ignore[method-assign]
        try:
            return fire(self)
        finally:
            del self.store.claim_due_timers
            self.enqueue = enqueue  # type: ignore[method-assign]

    Services.fire_timers = fire_timers  # type: ignore[method-assign]

    send = _DoorbellConsumer._send

    def _send(self: Any, acks: list[str], fetch: int | None) -> list[bytes]:
        fetched = send(self, acks, fetch)
        if fetched:
            self.trace_fetched = time.time()
        return fetched

    _DoorbellConsumer._send = _send  # type: ignore[method-assign]
    following = _DoorbellConsumer.__next__

    def __next__(self: Any) -> Any:
        message = following(self)
        if message is not None and message.args:
            run_id = str(message.args[0])
            log("fetched", run_id, getattr(self, "trace_fetched", None))
            log("handed", run_id)
        return message

    _DoorbellConsumer.__next__ = __next__  # type: ignore[method-assign]
    advance_actor = DramatiqTransport._advance

    def _advance(self: DramatiqTransport, run_id: str) -> None:
        log("actor", run_id)
        advance_actor(self, run_id)

    DramatiqTransport._advance = _advance  # type: ignore[method-assign]

    def after(cls: Any, name: str, event: str) -> None:
        original = getattr(cls, name)

        @functools.wraps(original)
        def wrapper(self: Any, run_id: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, run_id, *args, **kwargs)
            log(event, getattr(run_id, "run_id", run_id))
            return result

        setattr(cls, name, wrapper)

    after(RedisStore, "acquire", "acquired")
    commit = RedisStore.commit

    def commit_traced(self: Any, change: Any, *args: Any, **kwargs: Any) -> Any:
        result = commit(self, change, *args, **kwargs)
        log("committed", change.run_id)
        return result

    RedisStore.commit = commit_traced  # type: ignore[method-assign]
    park = advance_module.Advance._park

    def _park(self: Any, wait: Any) -> None:
        try:
            park(self, wait)
        except advance_module._Done:
            log("parked", self.run_id)
            raise

    advance_module.Advance._park = _park  # type: ignore[method-assign]
    hand = getattr(dramatiq_module, "hand_here", None)
    if hand is None:  # a version without hand-offs (for comparisons)
        return

    def hand_here(worker: Any, queue: str, threads: Any, in_hand: Any, messages: Sequence[Any]) -> list[Any]:
        rest = hand(worker, queue, threads, in_hand, messages)
        at = time.time()
        for message in messages[: len(messages) - len(rest)]:
            log("handed", str(message.args[0]), at)
            log("here", str(message.args[0]), at)
        return rest

    dramatiq_module.hand_here = hand_here


if os.environ.get(ENV):
    _install(_Log(os.environ[ENV]))


# -- the driver -----------------------------------------------------------------------------


def read_events(directory: str) -> dict[str, dict[str, list[tuple[float, int]]]]:
    """``{run_id: {event: [(time, pid), ...]}}`` from every process's file in ``directory``."""
    events: dict[str, dict[str, list[tuple[float, int]]]] = defaultdict(lambda: defaultdict(list))
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), encoding="utf-8") as file:
            for line in file:
                parts = line.split()
                if len(parts) == 4:
                    events[parts[1]][parts[0]].append((float(parts[2]), int(parts[3])))
    return events


TIMER_HOPS = (
    ("due", "tick"),
    ("tick", "claimed"),
    ("claimed", "handed"),
    ("handed", "actor"),
    ("actor", "acquired"),
    ("acquired", "woke"),
)
PROBE_HOPS = (
    ("start", "sent"),
    ("sent", "fetched"),
    ("fetched", "handed"),
    ("handed", "actor"),
    ("actor", "acquired"),
    ("acquired", "committed"),
    ("committed", "seen"),
)


def _first(found: dict[str, list[tuple[float, int]]], event: str, after: float) -> float | None:
    """The first ``event`` at or after ``after`` (the resume's, not the park's)."""
    times = sorted(t for t, _ in found.get(event, []) if t >= after - 0.0005)
    return times[0] if times else None


def breakdown(rows: list[dict[str, float]], hops: Sequence[tuple[str, str]], total: tuple[str, str]) -> str:
    """Quantiles of each hop over ``rows`` (each ``{event: time}``) and the slowest five in full."""
    from .measure import percentile

    lines = []
    usable = [row for row in rows if all(row.get(a) is not None for hop in hops for a in hop)]
    lines.append(f"{len(usable)} of {len(rows)} runs with every event")
    if not usable:
        return "\n".join(lines)
    header = "".join(f"{a[:7]}>{b[:7]}".rjust(17) for a, b in hops) + "total".rjust(10)
    lines.append("quantile".ljust(9) + header)

    def hop_ms(row: dict[str, float], a: str, b: str) -> float:
        return 1000 * (row[b] - row[a])

    for q in (0.5, 0.9, 0.99, 1.0):
        cells = "".join(f"{percentile([hop_ms(r, a, b) for r in usable], q):17.2f}" for a, b in hops)
        tot = percentile([hop_ms(r, *total) for r in usable], q)
        lines.append(f"p{int(q * 100)}".ljust(9) + cells + f"{tot:10.2f}")
    lines.append("slowest runs:")
    for row in sorted(usable, key=lambda r: hop_ms(r, *total))[-5:]:
        cells = "".join(f"{hop_ms(row, a, b):17.2f}" for a, b in hops)
        lines.append(" ".ljust(9) + cells + f"{hop_ms(row, *total):10.2f}  {row.get('pids', '')}")
    return "\n".join(lines)


def timer_rows(engine: Any, run_ids: Sequence[str], directory: str) -> list[dict[str, Any]]:
    events = read_events(directory)
    rows = []
    for run_id in run_ids:
        woke = float(engine.result(run_id, timeout=60))
        due = float(engine.journal(run_id)[0]["info"]["due"])
        found = events.get(run_id, {})
        row: dict[str, Any] = {"due": due, "woke": woke}
        for event in ("tick", "claimed", "enqueued", "fetched", "handed", "actor", "acquired"):
            row[event] = _first(found, event, due if event in ("tick", "claimed") else row.get("tick") or due)
        row["via"] = "here" if _first(found, "here", row["tick"] or due) is not None else "redis"
        parked = found.get("parked", [])
        row["pids"] = f"park {parked[0][1] if parked else '?'} fire {found.get('tick', [(0, '?')])[-1][1]}"
        rows.append(row)
    return rows


def probe_rows(engine: Any, workflow: Any, count: int, gap: float, directory: str) -> list[dict[str, Any]]:
    starts = []
    for _ in range(count):
        time.sleep(gap)
        began = time.time()
        run = engine.start(workflow)
        sent = time.time()
        run.result(timeout=60)
        starts.append((run.run_id, began, sent, time.time()))
    time.sleep(0.2)
    events = read_events(directory)
    rows = []
    for run_id, began, sent, seen in starts:
        found = events.get(run_id, {})
        row: dict[str, Any] = {"start": began, "sent": sent, "seen": seen}
        for event in ("fetched", "handed", "actor", "acquired"):
            row[event] = _first(found, event, began)
        commits = sorted(t for t, _ in found.get("committed", []))
        row["committed"] = commits[-1] if commits else None
        rows.append(row)
    return rows


def run_on_redis(body: Callable[[Any], str], processes: int, threads: int) -> str:
    """Run ``body(bench)`` on traced ``flowgen worker`` processes and a private Redis."""
    from .config import SIZES
    from .measure import Bench, Settings
    from .redis_server import RedisServer

    with tempfile.TemporaryDirectory(prefix="flowgen-trace-") as directory, RedisServer() as server:
        bench = Bench(server, SIZES["small"], Settings(processes=processes, threads=threads), lambda _t: None)
        bench.trace_directory = directory
        group = bench.flowgen_workers(env={ENV: directory}, module="benchmarks.phase_trace")
        try:
            group.wait_ready()
            return body(bench)
        finally:
            group.stop()
            bench.close()


def main(argv: Sequence[str] | None = None) -> int:
    from . import timers

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.phase_trace", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("what", choices=("timers", "latency"))
    parser.add_argument("--count", type=int, default=500, help="sleepers or probes (default 500)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--gap", type=float, default=0.02, help="idle seconds before each probe")
    args = parser.parse_args(argv)

    def timer_body(bench: Any) -> str:
        ids = timers.start_paced(bench.engine, bench.apps.sleeper, args.count, random.Random(1))
        time.sleep(1.2)
        rows = timer_rows(bench.engine, ids, bench.trace_directory)
        here = sum(1 for row in rows if row["via"] == "here")
        parts = [
            f"{here} of {len(rows)} handed to a thread of the firing process, the rest sent through Redis"
        ]
        for via in ("here", "redis"):
            chosen = [row for row in rows if row["via"] == via]
            if chosen:
                parts += [f"-- {via}:", breakdown(chosen, TIMER_HOPS, ("due", "woke"))]
        return "\n".join(parts)

    def probe_body(bench: Any) -> str:
        probe_rows(bench.engine, bench.apps.three_steps, 5, args.gap, bench.trace_directory)
        rows = probe_rows(bench.engine, bench.apps.three_steps, args.count, args.gap, bench.trace_directory)
        return breakdown(rows, PROBE_HOPS, ("start", "seen"))

    print(run_on_redis(timer_body if args.what == "timers" else probe_body, args.processes, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
