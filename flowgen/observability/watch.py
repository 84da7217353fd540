"""``run.watch()`` and ``engine.watch()``: iterators of state changes, as they happen.

A state is what a dashboard shows of a run: its status, the events it waits for, a pending pause
and what became of a cancellation (:func:`state_of`). Changes are noticed by a **nudge** and
confirmed by reading the run, so a nudge that is lost only delays a change to the next poll:

* Redis: every status change publishes, inside the Lua script that makes it, the new status on
  ``P:watch:{<run id>}`` (the run's channel; ``engine.watch()`` subscribes to the pattern
  ``P:watch:{*}`` and reads the run id from the channel): no extra round trip for the worker,
  nothing stored when nobody listens, one PUBLISH per status change;
* SQLite and memory: the engine's own threads nudge the watchers of the same process
  (:class:`LocalNotifier`, an observer); another process's changes are seen by polling.

``run.watch()`` also polls every ``interval`` seconds in every case, so it never misses a change
for longer than that; ``engine.watch()`` polls the newest runs on the stores without pub/sub.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ..client import RunInfo
from ..errors import ResultTimeoutError, RunNotFoundError
from ..validation import check_seconds
from .observer import Observer, RunEnded, RunParked, RunStarted

if TYPE_CHECKING:
    from ..engine import Engine

REMEMBERED = 100_000
"""How many runs' last state ``engine.watch()`` remembers (to tell a change from a repeated nudge)."""

logger = logging.getLogger("flowgen.watch")

SUBSCRIBE_TIMEOUT = 10.0
"""Seconds a watch waits for Redis to confirm its subscriptions."""

POLL_PAGE = 1000
"""How many of the newest runs ``engine.watch()`` compares per poll on a store without pub/sub."""

State = tuple[str, tuple[str, ...], bool, "str | None"]


def state_of(info: RunInfo) -> State:
    """What counts as a state change: status, events waited for, pending pause, cancellation."""
    return (str(info.status), tuple(info.waiting_for), info.pause_pending, info.cancellation)


class LocalNotifier(Observer):
    """Nudges the watchers of this process when its threads start, park or finish a run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: list[tuple[str | None, queue.SimpleQueue[str]]] = []

    def subscribe(self, run_id: str | None) -> queue.SimpleQueue[str]:
        nudges: queue.SimpleQueue[str] = queue.SimpleQueue()
        with self._lock:
            self._queues.append((run_id, nudges))
        return nudges

    def unsubscribe(self, nudges: queue.SimpleQueue[str]) -> None:
        with self._lock:
            self._queues = [(run_id, q) for run_id, q in self._queues if q is not nudges]

    def nudge(self, run_id: str) -> None:
        with self._lock:
            targets = [q for wanted, q in self._queues if wanted is None or wanted == run_id]
        for nudges in targets:
            nudges.put(run_id)

    def run_started(self, fact: RunStarted) -> None:
        self.nudge(fact.run_id)

    def run_parked(self, fact: RunParked) -> None:
        self.nudge(fact.run_id)

    def run_ended(self, fact: RunEnded) -> None:
        self.nudge(fact.run_id)


class _Nudges(Protocol):
    def wait(self, timeout: float) -> list[str]:
        """Block up to ``timeout`` seconds for nudges; return the run ids nudged (maybe none)."""

    def close(self) -> None: ...


class _LocalNudges:
    def __init__(self, notifier: LocalNotifier, run_id: str | None) -> None:
        self.notifier = notifier
        self.queue = notifier.subscribe(run_id)

    def wait(self, timeout: float) -> list[str]:
        try:
            found = [self.queue.get(timeout=max(0.0, timeout))]
        except queue.Empty:
            return []
        while True:
            try:
                found.append(self.queue.get_nowait())
            except queue.Empty:
                return found

    def close(self) -> None:
        self.notifier.unsubscribe(self.queue)


class _RedisNudges:
    """A pub/sub subscription to the channels the Lua scripts publish on: a run's channel (the
    message is its new status), or the pattern of every run's (the run id is in the channel's name)."""

    def __init__(self, client: Any, channels: list[str], patterns: list[str]) -> None:
        self.pubsub = client.pubsub()
        try:
            if channels:
                self.pubsub.subscribe(*channels)
            if patterns:
                self.pubsub.psubscribe(*patterns)
            self._confirmed(len(channels) + len(patterns))
        except BaseException:
            self.pubsub.close()
            raise
        self.pubsub.ignore_subscribe_messages = True

    def _confirmed(self, count: int) -> None:
        """Read Redis's answer to each subscription: a refusal (an ACL without these channels)
        is an error reply, raised here as ``NoPermissionError`` rather than at the first wait."""
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
        while count > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Redis did not confirm the watch's subscriptions within {SUBSCRIBE_TIMEOUT}s")
            message = self.pubsub.get_message(timeout=left)
            if message is not None and message.get("type") in ("subscribe", "psubscribe"):
                count -= 1

    def wait(self, timeout: float) -> list[str]:
        """The run ids nudged (one per message), waiting up to ``timeout`` seconds for the first."""
        found: list[str] = []
        message = self.pubsub.get_message(timeout=max(0.0, timeout))
        while message is not None:
            channel, pattern = message.get("channel"), message.get("pattern")
            if isinstance(channel, bytes):  # <base>:watch:{<run id>}, from pattern <base>:watch:{*}
                name = channel.decode("utf-8", "replace")
                start = len(pattern) - 2 if isinstance(pattern, bytes) else name.find(":watch:{") + 8
                found.append(name[start:-1])
            message = self.pubsub.get_message(timeout=0)
        return found

    def close(self) -> None:
        self.pubsub.close()


class _NoNudges:
    """Polling only: a Redis user whose ACL allows no pub/sub channel."""

    def __init__(self) -> None:
        self._never = threading.Event()

    def wait(self, timeout: float) -> list[str]:
        self._never.wait(max(0.0, timeout))
        return []

    def close(self) -> None:
        return None


def _nudges(engine: Engine, run_id: str | None) -> _Nudges:
    client = getattr(engine.store, "client", None)
    shards = getattr(engine.store, "shards", None)
    if client is not None and shards is not None and hasattr(client, "pubsub"):
        import redis

        # the scripts publish under the base of the run's shard (the prefix on a single Redis)
        if run_id is not None:
            channels, patterns = [f"{shards.base_of(run_id)}:watch:{{{run_id}}}"], []
        else:
            channels, patterns = [], [f"{base}:watch:{{*}}" for base in shards.bases]
        channel = ", ".join(channels + patterns)
        try:
            return _RedisNudges(client, channels, patterns)
        except redis.exceptions.NoPermissionError:
            logger.warning("this Redis user may not subscribe to %s; watching by polling only", channel)
            return _NoNudges()
    return _LocalNudges(engine._local_notifier(), run_id)


def watch_deadline(timeout: float | None) -> float | None:
    """When a watch given ``timeout`` seconds (``None``: forever) ends, on the monotonic clock."""
    return None if timeout is None else time.monotonic() + check_seconds(timeout, "timeout", allow_zero=True)


def time_left(deadline: float | None, interval: float) -> float:
    """How long to wait before the next look: ``interval``, or less if the deadline comes first."""
    return interval if deadline is None else min(interval, deadline - time.monotonic())


class RunWatch:
    """One run's watch, whichever loop drives it: tells a new state from a repeated one, and how
    long to wait before the next look (shared by ``run.watch()`` and the async client's)."""

    def __init__(self, run_id: str, timeout: float | None, interval: float) -> None:
        self.run_id = run_id
        self.timeout = timeout
        self.interval = check_seconds(interval, "interval")
        self.deadline = watch_deadline(timeout)
        self.last: State | None = None

    def is_new(self, info: RunInfo) -> bool:
        """Whether ``info`` shows a state not reported yet (and remember it)."""
        state = state_of(info)
        new = state != self.last
        self.last = state
        return new

    def next_look(self, info: RunInfo) -> float | None:
        """Seconds to wait before looking again; ``None`` once the run finished.

        Raises:
            ResultTimeoutError: the watch's ``timeout`` passed.
        """
        if info.is_finished:
            return None
        left = time_left(self.deadline, self.interval)
        if left <= 0:
            raise ResultTimeoutError(f"run {self.run_id!r} did not finish within {self.timeout}s of watching it")
        return left


def watch_run(
    engine: Engine, run_id: str, timeout: float | None = None, interval: float = 1.0
) -> Iterator[RunInfo]:
    """Yield the run's :class:`RunInfo` now and after each state change, until it has finished.

    Raises:
        RunNotFoundError: no such run.
        ResultTimeoutError: ``timeout`` seconds passed before the run finished.
    """
    watch = RunWatch(run_id, timeout, interval)
    engine.status(run_id)  # a missing run fails here, before anything is subscribed
    nudges = _nudges(engine, run_id)
    try:
        while True:
            info = engine.status(run_id)
            if watch.is_new(info):
                yield info
            left = watch.next_look(info)
            if left is None:
                return
            nudges.wait(left)
    finally:
        nudges.close()


def watch_runs(
    engine: Engine,
    workflow: str | None = None,
    statuses: tuple[str, ...] = (),
    timeout: float | None = None,
    interval: float = 1.0,
) -> Iterator[RunInfo]:
    """Yield the :class:`RunInfo` of each run whose state changes from now on (optionally filtered).

    The iteration ends after ``timeout`` seconds (``None``: never). On Redis, changes come from
    pub/sub (a watcher that loses its connection misses what happened meanwhile); on the other
    stores from this process's own threads, and by polling the :data:`POLL_PAGE` newest runs.
    """
    interval = check_seconds(interval, "interval")
    deadline = watch_deadline(timeout)
    nudges = _nudges(engine, None)
    polling = isinstance(nudges, (_LocalNudges, _NoNudges))
    known: OrderedDict[str, State] = OrderedDict()

    def newest() -> list[RunInfo]:
        return engine.runs(workflow=workflow, limit=POLL_PAGE)

    try:
        if polling:
            known = OrderedDict((info.run_id, state_of(info)) for info in newest())
        while True:
            left = time_left(deadline, interval)
            if left <= 0:
                return
            changed: list[RunInfo] = []
            nudged = nudges.wait(left)
            for run_id in dict.fromkeys(nudged):
                try:
                    changed.append(engine.status(run_id))
                except RunNotFoundError:  # swept meanwhile: no change to show
                    continue
            if polling:
                page = newest()
                changed += page
                on_page = {info.run_id for info in page}
                known = OrderedDict((run_id, state) for run_id, state in known.items() if run_id in on_page)
            for info in changed:
                if workflow is not None and info.workflow != workflow:
                    continue
                state = state_of(info)
                if known.get(info.run_id) == state:
                    continue
                known[info.run_id] = state
                known.move_to_end(info.run_id)
                if len(known) > REMEMBERED:
                    known.popitem(last=False)  # a long watch's memory stays bounded
                if not statuses or str(info.status) in statuses:
                    yield info
    finally:
        nudges.close()
