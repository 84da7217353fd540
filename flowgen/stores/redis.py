"""The Redis store: production persistence, every write one Lua script.

Key schema (``P`` is the key prefix, ``flowgen`` by default; ``{rid}`` is the run id as a hash
tag, so all keys of one run live in one cluster slot):

============================  ======  =====================================================
key                           type    holds
============================  ======  =====================================================
``P:{rid}:meta``              hash    run_id, workflow, status, created, updated, finished,
                                      args, fingerprint, output, error, parent, generation,
                                      epoch, owner, lease_until, signals, waiting (JSON list),
                                      jlen (journal length), open (the open entry, JSON),
                                      pause ("1" while a pause is requested), cancel
                                      ("requested", then "delivered" once raised),
                                      trace (the caller's traceparent, with tracing on;
                                      ";r=<n>" after the n-th retry of the generation)
``P:{rid}:journal``           list    closed entries, one JSON document per yield position
``P:{rid}:branches``          hash    per parallel step ``<pos>/<path>``: the dispatch record;
                                      ``...|s`` started attempt, ``...|hb`` heartbeat deadline,
                                      ``...|started``, ``...|r`` the attempt's report,
                                      ``...|pk`` parked for a step gate, ``...|h`` step slots held
``P:{rid}:inbox:<type>``      list    buffered events of one type (JSON: id, payload, sent)
``P:{rid}:inboxes``           set     event types with a non-empty inbox
``P:{rid}:seen``              set     event ids already accepted (duplicate sends are no-ops)
``P:{rid}:done``              list    one element once the run finished; ``result()`` blocks on it
``P:{rid}:children``          set     run ids of the child runs this run started
``P:{rid}:history``           list    archived generations (restart, retry), JSON documents
``P:timers``                  zset    run id -> when to wake it (one timer per run)
``P:ready``                   zset    run id -> when the reconciler should look at it again
``P:leases``                  zset    run id -> when its lease ends, for runs a worker holds: the
                                      reconciler checks then that it was renewed
``P:runs``                    zset    every run by creation time
``P:status:<status>``         zset    runs in a status, by creation time
``P:wf:<workflow>``           zset    runs of a workflow, by creation time
``P:wf:<workflow>:status:<s>`` zset   runs of a workflow in a status
``P:expiring``                zset    finished runs by the time their retention ends
``P:tag:<key>=<value>``       zset    runs carrying a tag, by creation time (the tags
                                      themselves: field ``tags`` of the meta hash, JSON);
                                      see :mod:`flowgen.stores.redis_search`
============================  ======  =====================================================

Every status change also publishes (no key is written): the new status on the channel
``P:watch:{rid}`` and the run id on ``P:watch``, for ``run.watch()`` and ``engine.watch()``.

Scripts validate everything before their first write (Lua does not roll back). Finished runs'
keys get a TTL equal to the engine's retention and a sweep removes them from the indexes.
Redis Cluster is not supported: scripts touch global indexes along with a run's keys.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

import redis

from ..errors import (
    CommitRefusedError,
    StoreUnavailableError,
)
from ..journal import OpenEntry, read_entry
from ..status import RunStatus
from . import redis_calls
from .base import (
    AppendEntries,
    Commit,
    CommitResult,
    InboxEvent,
    RunRecord,
    Snapshot,
    StateCounts,
    Store,
    ready_cutoff,
)
from .failures import Reason, store_error
from .redis_flow import FLOW_SCRIPTS, RedisFlow
from .redis_plans import Plan, RoundTrip, Script, pipelined, run_plan
from .redis_runs import RedisRuns
from .redis_search import RedisSearch
from .redis_wire import COMPACT, assemble_branches, encode_operation, flatten, num, pairs, text

_TRANSIENT_REFUSALS = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)
"""Error replies a later attempt of the same commit may not get (Redis full, or a replica);
any other error reply to a commit (a script error, a permission) is final."""


SCRIPTS = (
    "create",
    "acquire",
    "commit",
    "release",
    "renew",
    "send_event",
    "claim_timers",
    "reconcile",
    "branch_begin",
    "branch_finish",
    "renew_branches",
    "sweep",
    "control",
    "reset",
    *FLOW_SCRIPTS,
    "tag",
    "purge",
)


def _location(client: redis.Redis) -> str:
    """Where ``client`` connects, without credentials: ``host:port/db`` or the socket path."""
    options = client.connection_pool.connection_kwargs
    if "path" in options:
        return f"unix://{options['path']} (db {options.get('db', 0)})"
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}/{options.get('db', 0)}"


UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)
"""What redis-py raises when the server cannot be reached in time (refused, reset, auth, timeouts)."""

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def unreachable(location: str, error: BaseException) -> StoreUnavailableError:
    """The error of a store operation that could not reach Redis at ``location`` (sync or async)."""
    return StoreUnavailableError(
        f"Redis at {location} is unreachable: {error}; check that the server runs and "
        "that the URL (host, port, password) is right"
    )


def _unavailable_when_unreachable(cls: type[RedisStore]) -> type[RedisStore]:
    """Make every public store operation raise ``StoreUnavailableError`` when Redis is unreachable.

    The store contract's failure for "the backend cannot be reached" is the same on every store
    (SQLite raises it for a locked or closed file), so callers (the engine, the CLI, the
    runtime, which retries such advances later) need not know redis-py's exceptions. Script
    errors (``ResponseError``) are not connection failures and pass through.
    """

    def translating(method: F) -> F:
        @functools.wraps(method)
        def operation(self: RedisStore, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except UNREACHABLE as error:
                raise unreachable(self.location, error) from error

        return operation  # type: ignore[return-value]

    for name, member in list({**vars(RedisSearch), **vars(RedisRuns), **vars(cls)}.items()):
        plain = (
            not name.startswith("_")
            and not name.endswith("_plan")
            and name not in ("key", "close", "round_trip")
        )
        if callable(member) and plain:
            setattr(cls, name, translating(member))
    return cls


@_unavailable_when_unreachable
class RedisStore(RedisRuns, RedisFlow, RedisSearch, Store):
    """Implements the store contract on Redis (see the module docstring for the keys).

    Every operation raises :class:`~flowgen.errors.StoreUnavailableError` when Redis cannot be
    reached.

    Args:
        url: a ``redis://`` or ``rediss://`` URL, or ``client`` to share a connection pool.
        prefix: the key prefix.
        retention: seconds finished runs are kept (``None``: forever).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        prefix: str = "flowgen",
        retention: float | None = 7 * 86400,
    ) -> None:
        if client is None:
            if url is None:
                raise ValueError("RedisStore needs a url or a client")
            client = redis.Redis.from_url(url, health_check_interval=30)
        self.client = client
        self.location = _location(client)
        self.prefix = prefix
        self.retention = retention
        lua = resources.files("flowgen.stores").joinpath("lua")
        library = lua.joinpath("_lib.lua").read_text() + "\n" + lua.joinpath("_flow.lua").read_text()
        self._scripts = {
            name: client.register_script(
                library + "\n" + resources.files("flowgen.stores").joinpath(f"lua/{name}.lua").read_text()
            )
            for name in SCRIPTS
        }
        self._held = redis_calls.HeldConnections(client, retry=redis_calls.reconnecting_retry)

    def _run(self, name: str, *args: Any) -> Any:
        """Call a flowgen script by its SHA on this thread's connection, loading it if Redis lost it.

        This is what redis-py's ``Script.__call__`` does, minus the per-command layers
        (argument filtering, observability hooks, the pool's lock and its "unread data?"
        socket poll), which together cost as much client CPU as the round trip itself and are
        paid at every step boundary. Connection errors disconnect and retry under the
        connection's retry policy, as redis-py does.
        """
        conn = self._connection()
        try:
            try:
                return self._call(conn, self.script_command(name, args))
            except redis.exceptions.NoScriptError:
                self.reload_script(name, self.client.script_load(self._scripts[name].script))
                return self._call(conn, self.script_command(name, args))
        except BaseException as error:
            if not isinstance(error, redis.ResponseError):
                conn.disconnect()  # never reuse a connection that may hold an unread reply
            raise

    def script_command(self, name: str, args: Sequence[Any]) -> tuple[Any, ...]:
        """The command that calls flowgen script ``name`` with ``args`` (what the sync and async clients send)."""
        return ("EVALSHA", self._scripts[name].sha, 0, self.prefix, *args)

    def script_source(self, name: str) -> str:
        """The Lua source of script ``name`` (loaded again when Redis answers ``NOSCRIPT``)."""
        return text(self._scripts[name].script)

    def reload_script(self, name: str, sha: Any) -> None:
        """Record the SHA Redis gave script ``name`` on ``SCRIPT LOAD``."""
        self._scripts[name].sha = text(sha)

    def round_trip(self, trip: RoundTrip) -> Any:
        """Do one round trip of a plan (:mod:`.redis_plans`): a script on this thread's connection, or a pipeline."""
        if isinstance(trip, Script):
            return self._run(trip.name, *trip.args)
        return pipelined(self.client, trip)

    def _execute(self, plan: Plan[T]) -> T:
        return run_plan(plan, self.round_trip)

    def _connection(self) -> Any:
        """This thread's own connection for scripts, made like the pool's (:class:`~.redis_calls.HeldConnections`).

        A worker thread keeps it for its life; it closes when the thread ends (the
        thread-local goes, and the connection with it) or when the store closes. The pool's
        kwargs carry no retry policy (a pooled connection is checked when it is handed out);
        this one must reconnect by itself when the server dropped it (an idle timeout, a Redis
        restart).
        """
        return self._held.get()

    @staticmethod
    def _call(conn: Any, command: Sequence[Any]) -> Any:
        # Packed once with hiredis, not through redis-py's serializer (which walks the arguments
        # in Python), and sent and read by redis_calls.roundtrip: together about 10% of a
        # worker's bytecodes per workflow went to redis-py's layers. Every argument is text.
        packed = redis_calls.pack(*command)
        return conn.retry.call_with_retry(
            lambda: redis_calls.roundtrip(conn, packed), lambda _error: conn.disconnect()
        )

    def key(self, run_id: str, suffix: str) -> str:
        return f"{self.prefix}:{{{run_id}}}:{suffix}"

    # -- runs -------------------------------------------------------------------------------

    def state_counts(self, now: float) -> StateCounts:
        """One pipelined round trip: ZCARD of each status index and of the timers, one ZCOUNT."""
        statuses = [status.value for status in RunStatus]
        pipe = self.client.pipeline(transaction=False)
        for status in statuses:
            pipe.zcard(f"{self.prefix}:status:{status}")
        pipe.zcard(f"{self.prefix}:timers")
        pipe.zcount(f"{self.prefix}:timers", "-inf", num(now))
        replies = pipe.execute()
        runs = {status: int(count) for status, count in zip(statuses, replies, strict=False)}
        return StateCounts(runs, int(replies[-2]), int(replies[-1]))

    # -- advancing --------------------------------------------------------------------------

    def acquire(self, run_id: str, owner: str, ttl: float, now: float, offset: int = 0) -> Snapshot | None:
        reply = self._run("acquire", run_id, owner, num(now), num(now + ttl), offset)
        status = text(reply[0])
        if status == Reason.MISSING:
            raise store_error(status, run_id)
        if status != "ok":
            return None
        record = RunRecord.from_text_fields(pairs(reply[1]))
        inbox_flat = reply[4]
        inbox = {
            text(inbox_flat[i]): [InboxEvent.from_json(item) for item in inbox_flat[i + 1]]
            for i in range(0, len(inbox_flat), 2)
        }
        return Snapshot(
            run=record,
            epoch=record.epoch,
            journal=[read_entry(text, offset + index) for index, text in enumerate(reply[2])],
            open=OpenEntry.from_json(record.open) if record.open else None,
            branches=assemble_branches(pairs(reply[3])),
            inbox=inbox,
            interrupted=bool(int(reply[5])),
            flow=json.loads(reply[6]) if len(reply) > 6 and reply[6] else None,
        )

    def load(self, run_id: str, event_types: Sequence[str] = (), offset: int | None = None) -> Snapshot:
        counts: dict[str, int] = {}
        for event_type in event_types:
            counts[event_type] = counts.get(event_type, 0) + 1
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self.key(run_id, "meta"))
        pipe.hgetall(self.key(run_id, "branches"))
        for event_type, count in counts.items():
            pipe.lrange(self.key(run_id, f"inbox:{event_type}"), 0, count - 1)
        if offset is not None:
            pipe.lrange(self.key(run_id, "journal"), offset, -1)
        replies = pipe.execute()
        if not replies[0]:
            raise store_error(Reason.MISSING, run_id)
        record = RunRecord.from_fields(replies[0])
        inbox = {
            event_type: [InboxEvent.from_json(item) for item in items]
            for event_type, items in zip(counts, replies[2 : 2 + len(counts)], strict=True)
            if items
        }
        journal = (
            [read_entry(text, offset + index) for index, text in enumerate(replies[-1])]
            if offset is not None
            else []
        )
        return Snapshot(
            run=record,
            epoch=0,
            journal=journal,
            open=OpenEntry.from_json(record.open) if record.open else None,
            branches=assemble_branches(pairs(flatten(replies[1]))),
            inbox=inbox,
        )

    def commit(self, commit: Commit, now: float, grace: float) -> CommitResult:
        expiry = self._expiry(now)
        change = {
            "epoch": commit.epoch,
            "pos": commit.position,
            "now": num(now),
            "ready_score": num(now + grace),
            "ops": [encode_operation(operation, expiry) for operation in commit.operations],
        }
        try:
            reply = self._run("commit", commit.run_id, COMPACT(change))
        except redis.ResponseError as error:
            if isinstance(error, _TRANSIENT_REFUSALS):
                raise  # the run stays ready and is retried once Redis accepts writes again
            appended = sum(len(op.entries) for op in commit.operations if isinstance(op, AppendEntries))
            raise CommitRefusedError(
                f"Redis refused the commit of run {commit.run_id!r} at position {commit.position} "
                f"({appended} new journal entries): {error}"
            ) from error
        ok, reason, parked, woken = int(reply[0]), text(reply[1]), int(reply[2]), text(reply[3])
        if reason == Reason.MISSING:
            raise store_error(reason, commit.run_id)
        flags: dict[str, Any] = {}
        if len(reply) > 4:
            flags = {
                "pause_requested": bool(text(reply[4])),
                "cancel_requested": text(reply[5]),
                "held": bool(int(reply[6])),
            }
        wake = ((woken,) if woken else ()) + (tuple(text(r) for r in reply[7]) if len(reply) > 7 else ())
        return CommitResult(bool(ok), reason, bool(parked), wake, **flags)

    def release(self, run_id: str, epoch: int) -> None:
        self._run("release", run_id, str(epoch))

    def renew(self, leases: Sequence[tuple[str, int]], ttl: float, now: float) -> list[str]:
        if not leases:
            return []
        args: list[Any] = [num(now + ttl)]
        for run_id, epoch in leases:
            args += [run_id, str(epoch)]
        return [text(run_id) for run_id in self._run("renew", *args)]

    # -- events, timers, reconciliation -----------------------------------------------------

    def claim_due_timers(self, now: float, limit: int, grace: float) -> list[str]:
        return [text(r) for r in self._run("claim_timers", num(now), limit, num(now + grace))]

    def next_timer(self) -> float | None:
        first = self.client.zrange(f"{self.prefix}:timers", 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def next_lease_check(self) -> float | None:
        first = self.client.zrange(f"{self.prefix}:leases", 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def reconcile(self, now: float, limit: int, grace: float, backlog: float = 0.0) -> list[str]:
        cutoff = num(ready_cutoff(now, backlog))
        return [text(r) for r in self._run("reconcile", num(now), limit, num(now + grace), cutoff)]

    def sweep(self, now: float, limit: int = 1000) -> int:
        """Remove runs whose retention ended from the indexes; returns how many were looked at."""
        return int(self._run("sweep", num(now), limit))

    # -- parallel steps ---------------------------------------------------------------------

    def branch_begin(
        self, run_id: str, key: str, attempt: int, ttl: float, now: float
    ) -> dict[str, Any] | None:
        reply = self._run("branch_begin", run_id, key, attempt, num(now + ttl), num(now))
        return json.loads(reply) if reply else None

    def branch_finish(
        self, run_id: str, key: str, attempt: int, outcome: dict[str, Any], now: float, grace: float
    ) -> list[str]:
        reply = self._run(
            "branch_finish",
            run_id,
            key,
            attempt,
            json.dumps(outcome, separators=(",", ":")),
            num(now + grace),
            num(now),
        )
        return [text(run) for run in reply]

    def renew_branches(self, branches: Sequence[tuple[str, str, int]], ttl: float, now: float) -> None:
        if not branches:
            return
        args: list[Any] = [num(now + ttl)]
        for run_id, key, attempt in branches:
            args += [run_id, key, str(attempt)]
        self._run("renew_branches", *args)

    def inbox(self, run_id: str) -> dict[str, list[InboxEvent]]:
        types = [text(t) for t in self.client.smembers(self.key(run_id, "inboxes"))]
        pipe = self.client.pipeline(transaction=False)
        for event_type in types:
            pipe.lrange(self.key(run_id, f"inbox:{event_type}"), 0, -1)
        return {
            t: [InboxEvent.from_json(item) for item in items]
            for t, items in zip(types, pipe.execute(), strict=True)
            if items
        }

    def close(self) -> None:
        self._held.close()
        self.client.close()
