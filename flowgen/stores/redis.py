"""The Redis store: production persistence, every write one Lua script.

Key schema (``P`` is the key prefix, ``flowgen`` by default; ``{rid}`` is the run id as a hash
tag, so all keys of one run live in one cluster slot):

============================  ======  =====================================================
key                           type    holds
============================  ======  =====================================================
``P:{rid}:meta``              hash    run_id, workflow, status, created, updated, finished,
                                      args, fingerprint, output, error, parent, generation,
                                      epoch, owner, lease_until, signals, waiting (JSON list),
                                      jlen (journal length), open (the open entry, JSON;
                                      '' once finished), pause ("1" while a pause is
                                      requested), cancel
                                      ("requested", then "delivered" once raised),
                                      trace (the caller's traceparent, with tracing on;
                                      ";r=<n>" after the n-th retry of the generation),
                                      plain ("1": no flow document and no branch record
                                      written yet, see ``redis_flow.PLAIN_FIELD``)
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

Every status change also publishes (no key is written) the new status on the channel
``P:watch:{rid}``, for ``run.watch()`` (which subscribes to it) and ``engine.watch()`` (which
subscribes to the pattern ``P:watch:{*}``).

Scripts validate everything before their first write (Lua does not roll back). Finished runs'
keys get a TTL equal to the engine's retention and a sweep removes them from the indexes.
On a Redis Cluster every ``P:`` above is a shard's base ``P:{t:NN}`` and each run lives in one
shard, in that shard's hash slot (see :mod:`flowgen.stores.redis_shards`): the indexes are split
into shards, and listing, counting and the reconciler's scans merge them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from redis.cluster import RedisCluster

from ..errors import (
    CommitRefusedError,
    StoreUnavailableError,
)
from ..journal import OpenEntry, read_entry
from ..status import RunStatus
from .base import (
    AppendEntries,
    Commit,
    CommitResult,
    Finish,
    InboxEvent,
    RunRecord,
    Snapshot,
    StateCounts,
    Store,
    ready_cutoff,
)
from .failures import Reason, store_error
from .flow_logic import branch_member
from .redis_flow import FLOW_SCRIPTS, PLAIN_FIELD, RedisFlow
from .redis_plans import Plan, RoundTrip, Script, pipelined, run_plan
from .redis_runs import RedisRuns
from .redis_scans import scan_shards
from .redis_scripts import STEP_KINDS, ScriptCaller, load_scripts
from .redis_search import RedisSearch
from .redis_shards import DEFAULT_CLUSTER_SHARDS, Shards
from .redis_wire import assemble_branches, encode_operation, flatten, num, pairs, text

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

_COMMITTED = CommitResult(True)
"""A commit applied with nothing else to say: no pause or cancel pending, nothing held, parked or woken."""

ACQUIRED = (
    "status", "owner", "lease_until", "epoch", "created", "cancel", "workflow", "waiting", "jlen",
    PLAIN_FIELD, "updated", "args", "fingerprint", "output", "error", "parent", "generation",
    "signals", "pause", "finished", "open", "trace",
)  # fmt: skip
"""The metadata fields ``acquire.lua`` reads and returns, in its order (their values only)."""


def _location(client: Any) -> str:
    """Where ``client`` connects, without credentials: ``host:port/db``, the socket path, or a cluster's nodes."""
    if isinstance(client, RedisCluster):
        primaries = client.get_primaries()  # type: ignore[no-untyped-call]
        nodes = ",".join(f"{node.host}:{node.port}" for node in primaries)
        return f"cluster {nodes}"
    options = client.connection_pool.connection_kwargs
    if "path" in options:
        return f"unix://{options['path']} (db {options.get('db', 0)})"
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}/{options.get('db', 0)}"


UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError)
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
class RedisStore(ScriptCaller, RedisRuns, RedisFlow, RedisSearch, Store):
    """Implements the store contract on Redis (see the module docstring for the keys).

    Every operation raises :class:`~flowgen.errors.StoreUnavailableError` when Redis cannot be
    reached.

    Args:
        url: a ``redis://`` or ``rediss://`` URL, or ``client`` to share a connection pool
            (a ``redis.Redis``, or a ``redis.cluster.RedisCluster`` for a Redis Cluster).
        prefix: the key prefix.
        retention: seconds finished runs are kept (``None``: forever).
        shards: how many shards the global indexes are split into (see
            :mod:`flowgen.stores.redis_shards`): ``None`` picks 0 (none) on a single Redis and
            :data:`~flowgen.stores.redis_shards.DEFAULT_CLUSTER_SHARDS` on a cluster. Every
            process of a deployment must use the same number.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | RedisCluster | None = None,
        prefix: str = "flowgen",
        retention: float | None = 7 * 86400,
        shards: int | None = None,
    ) -> None:
        if client is None:
            if url is None:
                raise ValueError("RedisStore needs a url or a client")
            client = redis.Redis.from_url(url, health_check_interval=30)
        self.client = client
        self.cluster = isinstance(client, RedisCluster)
        if shards is None:
            shards = DEFAULT_CLUSTER_SHARDS if self.cluster else 0
        if self.cluster and shards == 0:
            raise ValueError("shards=0 needs a single Redis: on a Redis Cluster use at least 1 shard")
        self.shards = Shards(prefix, shards)
        self.location = _location(client)
        self.prefix = prefix
        self.retention = retention
        self._scripts = load_scripts(client, SCRIPTS)
        self._init_calls()
        self._init_gates()

    def round_trip(self, trip: RoundTrip) -> Any:
        """Do one round trip of a plan (:mod:`.redis_plans`): a script in its shard (``trip.base``,
        else the shard of run ``args[0]``) on this thread's connection or the cluster, or a pipeline."""
        if isinstance(trip, Script):
            if trip.base is None:
                return self._run(trip.name, *trip.args)
            return self._run_on(trip.base, trip.name, *trip.args)
        return pipelined(self.client, trip)

    def _execute(self, plan: Plan[T]) -> T:
        return run_plan(plan, self.round_trip)

    def key(self, run_id: str, suffix: str) -> str:
        return self.shards.key(run_id, suffix)

    # -- runs -------------------------------------------------------------------------------

    def state_counts(self, now: float) -> StateCounts:
        """One pipelined round trip: ZCARD of each status index and of the timers, one ZCOUNT (per shard)."""
        statuses = [status.value for status in RunStatus]
        pipe = self.client.pipeline(transaction=False)
        for base in self.shards.bases:
            for status in statuses:
                pipe.zcard(f"{base}:status:{status}")
            pipe.zcard(f"{base}:timers")
            pipe.zcount(f"{base}:timers", "-inf", num(now))
        replies = [int(reply) for reply in pipe.execute()]
        width = len(statuses) + 2
        totals = [sum(replies[column::width]) for column in range(width)]
        runs = dict(zip(statuses, totals, strict=False))
        return StateCounts(runs, totals[-2], totals[-1])

    # -- advancing --------------------------------------------------------------------------

    def acquire(self, run_id: str, owner: str, ttl: float, now: float, offset: int = 0) -> Snapshot | None:
        reply = self._run("acquire", run_id, owner, num(now), num(now + ttl), offset)
        status = text(reply[0])
        if status == Reason.MISSING:
            raise store_error(status, run_id)
        if status != "ok":
            return None
        values = zip(ACQUIRED, reply[1], strict=True)
        fields = {name: value.decode() for name, value in values if value is not None}
        fields["run_id"] = run_id
        record = RunRecord.from_text_fields(fields)
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
        operations = commit.operations
        expiry = ["", ""]  # only a finishing commit reads it (Finish is always the last operation)
        if operations and isinstance(operations[-1], Finish):
            expiry = [num(value) for value in self._expiry(now)] or expiry
        args = [commit.run_id, str(commit.epoch), str(commit.position), num(now), num(now + grace)]
        script = "commit_step"  # a step boundary's commit, unless an operation needs the whole script
        for operation in commit.operations:
            encoded = encode_operation(operation, expiry)
            if encoded[0] not in STEP_KINDS:
                script = "commit"
            args += encoded
        try:
            reply = self._run(script, *args)
        except redis.ResponseError as error:
            if isinstance(error, _TRANSIENT_REFUSALS):
                raise  # the run stays ready and is retried once Redis accepts writes again
            appended = sum(len(op.entries) for op in commit.operations if isinstance(op, AppendEntries))
            raise CommitRefusedError(
                f"Redis refused the commit of run {commit.run_id!r} at position {commit.position} "
                f"({appended} new journal entries): {error}"
            ) from error
        if reply == 1:  # applied, nothing to say (commit.lua's reply at most step boundaries)
            return _COMMITTED
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
        lost: list[str] = []
        if not self.shards.one_slot:  # the step slots first: they must never end before their lease
            self._renew_gates([run_id for run_id, _ in leases], now + ttl)
        for base, positions in self.shards.group([run_id for run_id, _ in leases]).items():
            args: list[Any] = [num(now + ttl)]
            for index in positions:
                args += [leases[index][0], str(leases[index][1])]
            lost += [text(run_id) for run_id in self._run_on(base, "renew", *args)]
        if len(lost) > 1 and self.cluster:  # in the order asked, as one script returns them
            order = {run_id: index for index, (run_id, _) in reversed(list(enumerate(leases)))}
            lost.sort(key=order.__getitem__)
        return lost

    # -- events, timers, reconciliation -----------------------------------------------------

    def claim_due_timers(self, now: float, limit: int, grace: float) -> list[str]:
        def claim(base: str, share: int) -> Any:
            return self._run_on(base, "claim_timers", num(now), share, num(now + grace))

        if self.shards.count == 0:
            return [text(r) for r in claim(self.prefix, limit)]
        return scan_shards(self.client, self.shards.bases, limit, [("timers", num(now))], claim)

    def next_timer(self) -> float | None:
        pipe = self.client.pipeline(transaction=False)
        for base in self.shards.bases:
            pipe.zrange(f"{base}:timers", 0, 0, withscores=True)
        firsts = [float(reply[0][1]) for reply in pipe.execute() if reply]
        return min(firsts) if firsts else None

    def next_lease_check(self) -> float | None:
        """The earliest lease end over every shard (one index on a single Redis)."""
        ends = [
            float(first[0][1])
            for base in self.shards.bases
            if (first := self.client.zrange(f"{base}:leases", 0, 0, withscores=True))
        ]
        return min(ends, default=None)

    def reconcile(self, now: float, limit: int, grace: float, backlog: float = 0.0) -> list[str]:
        cutoff = num(ready_cutoff(now, backlog))

        def scan(base: str, share: int) -> Any:
            return self._run_on(base, "reconcile", num(now), share, num(now + grace), cutoff)

        if self.shards.count == 0:
            return [text(r) for r in scan(self.prefix, limit)]
        return scan_shards(self.client, self.shards.bases, limit, [("leases", num(now)), ("ready", cutoff)], scan)

    def sweep(self, now: float, limit: int = 1000) -> int:
        """Remove runs whose retention ended from the indexes; returns how many were looked at."""
        return sum(int(self._run_on(base, "sweep", num(now), limit)) for base in self.shards.bases)

    # -- parallel steps ---------------------------------------------------------------------

    def branch_begin(
        self, run_id: str, key: str, attempt: int, ttl: float, now: float
    ) -> dict[str, Any] | None:
        if self.shards.one_slot:
            reply = self._run("branch_begin", run_id, key, attempt, num(now + ttl), num(now))
        else:
            reply = self._begin_gated_branch(run_id, key, attempt, ttl, now)
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
        woken = [text(run) for run in reply]
        if not self.shards.one_slot:  # its step slots, in their own shards (redis_gates.py)
            freed = self._release_gates(branch_member(run_id, key), None, now + grace)
            woken += [run for run in freed if run not in woken]
        return woken

    def renew_branches(self, branches: Sequence[tuple[str, str, int]], ttl: float, now: float) -> None:
        if not branches:
            return
        if not self.shards.one_slot:  # the step slots first: they must never end before their heartbeat
            self._renew_gates([branch_member(run_id, key) for run_id, key, _ in branches], now + ttl)
        for base, positions in self.shards.group([run_id for run_id, _, _ in branches]).items():
            args: list[Any] = [num(now + ttl)]
            for index in positions:
                run_id, key, attempt = branches[index]
                args += [run_id, key, str(attempt)]
            self._run_on(base, "renew_branches", *args)

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
        self._close_calls()
        self.client.close()
