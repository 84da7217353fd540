"""The Redis store's client operations (create, read, send events, control, reset), each written once as a plan.

Every operation a client makes (``Engine`` and ``AsyncEngine`` alike) is a ``<name>_plan``
method here that builds the script's arguments and decodes its reply (see
:mod:`.redis_plans`); the store contract's ``<name>`` method is that plan run on the store's
sync connection. ``AsyncEngine`` runs the same plans on ``redis.asyncio``.
Mixed into :class:`~flowgen.stores.redis.RedisStore`.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Sequence
from typing import Any

import redis

from ..error_records import error_record
from ..errors import CancelledError
from ..journal import Entry, read_entry
from ..status import FINISHED, RunStatus
from .base import CONTROL_ACTIONS, ControlResult, InboxEvent, NewRun, RunRecord, SendResult
from .failures import Reason, store_error
from .redis_plans import Plan, commands, script
from .redis_shards import Shards, check_placement
from .redis_wire import num, pairs, text

QueuedMessage = tuple[str, str, bytes]
"""A run's first advance message for ``create``: its Dramatiq queue, Redis message id and encoded data."""
NO_MESSAGE: QueuedMessage = ("", "", b"")

BLOCK_SLICE = 2.0
"""Longest single blocking call, well under redis-py's default 5 s socket timeout."""


class RedisRuns:
    """Client operations as plans; ``RedisStore`` provides ``prefix``, ``shards``, ``retention``, ``key`` and ``_execute``.

    Each script trip names the base of the shard it works in (``KEYS[1]``, see
    :mod:`.redis_shards`), so the same plan is right on a single Redis and on a cluster.
    """

    prefix: str
    cluster: bool
    shards: Shards
    retention: float | None

    def key(self, run_id: str, suffix: str) -> str:
        raise NotImplementedError

    def _execute(self, plan: Plan[Any]) -> Any:
        raise NotImplementedError

    def _expiry(self, now: float) -> list[Any]:
        """``[retention, expire_at]`` for a run finishing at ``now``, or ``[]`` if runs are kept forever."""
        return [] if self.retention is None else [self.retention, num(now + self.retention)]

    # -- creating ---------------------------------------------------------------------------

    def create_runs_plan(
        self,
        runs: Sequence[NewRun],
        now: float,
        grace: float,
        messages: Sequence[QueuedMessage | None] = (),
        namespace: str = "",
    ) -> Plan[list[tuple[bool, RunRecord]]]:
        """Create the runs that do not exist yet (one ``create`` call per shard they live in; one on a
        single Redis), with their trace contexts.

        ``messages`` (one per run, or none at all) are the runs' first advance messages on the
        Dramatiq doorbell broker of ``namespace``: the script enqueues the message of each run
        it creates, and rings the doorbell, in the same call (see ``lua/create.lua`` and
        :mod:`flowgen.transports.start_enqueue`). Only on a single Redis, where the queue and
        the run can be touched by one script.

        Raises:
            RunPlacementError: on a cluster, runs whose scripts would need two slots
                (:func:`~.redis_shards.check_placement`).
        """
        if not runs:
            return []
        if self.cluster:
            check_placement(self.shards, runs)
            assert not messages, "on a cluster a run's queue is in another slot: enqueue after creating"
        sent: Sequence[QueuedMessage | None] = messages or [None] * len(runs)
        replies: list[Any] = [None] * len(runs)
        for base, positions in self.shards.group([run.run_id for run in runs]).items():
            args: list[Any] = [num(now), num(now + grace), namespace]
            for index in positions:
                run = runs[index]
                args += [run.run_id, run.workflow, run.args, run.fingerprint, run.parent or "", run.flow or ""]
                args += [run.trace or "", *(sent[index] or NO_MESSAGE)]
            shard_replies = yield from script("create", *args, base=base)
            for index, reply in zip(positions, shard_replies, strict=True):
                replies[index] = reply
        results: list[tuple[bool, RunRecord]] = []
        for run, reply in zip(runs, replies, strict=True):
            if reply == 1:
                results.append((True, run.queued_record(now)))
            else:
                results.append((False, RunRecord.from_text_fields(pairs(reply))))
        return results

    def new_run_id(self, workflow: str, flow: str | None) -> str:
        """On a cluster, an id in the shard of the run's limits (:meth:`.Shards.new_run_id`)."""
        return self.shards.new_run_id(workflow, flow)

    def create_runs(self, runs: Sequence[NewRun], now: float, grace: float) -> list[tuple[bool, RunRecord]]:
        result: list[tuple[bool, RunRecord]] = self._execute(self.create_runs_plan(runs, now, grace))
        return result

    # -- reading ----------------------------------------------------------------------------

    def get_run_plan(self, run_id: str) -> Plan[RunRecord | None]:
        """The run's record (one ``HGETALL``), or ``None``."""
        (fields,) = yield from commands(("HGETALL", self.key(run_id, "meta")))
        return RunRecord.from_fields(fields) if fields else None

    def get_run(self, run_id: str) -> RunRecord | None:
        record: RunRecord | None = self._execute(self.get_run_plan(run_id))
        return record

    def get_run_or_raise_plan(self, run_id: str) -> Plan[RunRecord]:
        """The run's record, or ``RunNotFoundError``."""
        record = yield from self.get_run_plan(run_id)
        if record is None:
            raise store_error(Reason.MISSING, run_id)
        return record

    def runs_index(self, status: RunStatus | None, workflow: str | None, base: str | None = None) -> str:
        """The sorted set of run ids (newest last) that lists runs of ``status`` and ``workflow``
        (in the shard whose base is ``base``; the only one on a single Redis)."""
        p = self.prefix if base is None else base
        if status and workflow:
            return f"{p}:wf:{workflow}:status:{status}"
        if status:
            return f"{p}:status:{status}"
        if workflow:
            return f"{p}:wf:{workflow}"
        return f"{p}:runs"

    def list_runs_plan(
        self, status: RunStatus | None, workflow: str | None, limit: int | None, offset: int
    ) -> Plan[list[RunRecord]]:
        """A page of runs, newest first: the index's ids (every shard's, merged, on a cluster), then
        their records in one pipeline."""
        last = -1 if limit is None else offset + limit - 1
        if self.shards.count == 0:
            (found,) = yield from commands(("ZREVRANGE", self.runs_index(status, workflow), offset, last))
            ids = [text(run_id) for run_id in found]
        else:
            ids = yield from self._merged_ids_plan(status, workflow, offset, last)
        rows = yield from commands(*(("HGETALL", self.key(run_id, "meta")) for run_id in ids))
        return [RunRecord.from_fields(fields) for fields in rows if fields]

    def _merged_ids_plan(
        self, status: RunStatus | None, workflow: str | None, offset: int, last: int
    ) -> Plan[list[str]]:
        """Run ids of every shard's index, newest first (as one index orders them), ``offset..last``."""
        replies = yield from commands(
            *(
                ("ZREVRANGE", self.runs_index(status, workflow, base), 0, last, "WITHSCORES")
                for base in self.shards.bases
            )
        )
        shards = [[(float(score), text(member)) for member, score in _scored(reply)] for reply in replies]
        merged = [run_id for _, run_id in heapq.merge(*shards, reverse=True)]
        return merged[offset:] if last < 0 else merged[offset : last + 1]

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        records: list[RunRecord] = self._execute(self.list_runs_plan(status, workflow, limit, offset))
        return records

    def read_journal_plan(self, run_id: str, offset: int = 0) -> Plan[list[Entry]]:
        """The run's closed journal entries from ``offset`` on."""
        (texts,) = yield from commands(("LRANGE", self.key(run_id, "journal"), offset, -1))
        return [read_entry(item, offset + index) for index, item in enumerate(texts)]

    def read_journal(self, run_id: str, offset: int = 0) -> list[Entry]:
        entries: list[Entry] = self._execute(self.read_journal_plan(run_id, offset))
        return entries

    def children_plan(self, run_id: str) -> Plan[list[str]]:
        """The ids of the run's child runs, sorted."""
        (members,) = yield from commands(("SMEMBERS", self.key(run_id, "children")))
        return sorted(text(child) for child in members)

    def children(self, run_id: str) -> list[str]:
        found: list[str] = self._execute(self.children_plan(run_id))
        return found

    def history_plan(self, run_id: str) -> Plan[list[dict[str, Any]]]:
        """The run's archived generations, oldest first."""
        (documents,) = yield from commands(("LRANGE", self.key(run_id, "history"), 0, -1))
        return [_checked_entries(json.loads(document)) for document in documents]

    def history(self, run_id: str) -> list[dict[str, Any]]:
        generations: list[dict[str, Any]] = self._execute(self.history_plan(run_id))
        return generations

    def wait_finished_plan(self, run_id: str, timeout: float | None) -> Plan[RunRecord | None]:
        """Wait until the run finished (its record), or ``None`` after ``timeout`` seconds.

        It blocks on the run's ``done`` list: ``BLMOVE`` from the list to itself wakes every
        waiter and leaves the element in place. Blocking in slices keeps under the client's
        socket timeout and re-checks the run (its keys may expire under retention meanwhile).
        The record is read in the same pipeline as the ``BLMOVE`` (Redis runs it once the block
        ends), so a finish is seen in the round trip that it wakes, not one more.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        done, meta = self.key(run_id, "done"), self.key(run_id, "meta")
        record = yield from self.get_run_or_raise_plan(run_id)
        while record.status not in FINISHED:
            remaining = BLOCK_SLICE if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                _, fields = yield from commands(
                    ("BLMOVE", done, done, "RIGHT", "LEFT", num(min(remaining, BLOCK_SLICE))),
                    ("HGETALL", meta),
                    blocking=True,
                )
            except redis.TimeoutError:
                record = yield from self.get_run_or_raise_plan(run_id)
                continue
            if not fields:
                raise store_error(Reason.MISSING, run_id)
            record = RunRecord.from_fields(fields)
        return record

    def wait_finished(self, run_id: str, timeout: float | None) -> RunRecord | None:
        record: RunRecord | None = self._execute(self.wait_finished_plan(run_id, timeout))
        return record

    # -- writing ----------------------------------------------------------------------------

    def send_event_plan(
        self, run_id: str, event_type: str, payload: str, event_id: str, now: float, grace: float
    ) -> Plan[SendResult]:
        """Buffer an event in the run's inbox (``send_event`` script); a known ``event_id`` is a no-op."""
        event = InboxEvent(event_id, payload, now).to_json()
        reply = yield from script(
            "send_event", run_id, event_type, event, event_id, num(now + grace), num(now),
            base=self.shards.base_of(run_id),
        )
        status = text(reply[0])
        if status in (Reason.MISSING, Reason.FINISHED):
            raise store_error(
                status,
                run_id,
                status=text(reply[-1]),
                consequence=f"the event {event_type!r} was not delivered",
            )
        if status == "duplicate":
            return SendResult(False, False)
        return SendResult(True, bool(int(reply[1])))

    def send_event(
        self, run_id: str, event_type: str, payload: str, event_id: str, now: float, grace: float
    ) -> SendResult:
        result: SendResult = self._execute(
            self.send_event_plan(run_id, event_type, payload, event_id, now, grace)
        )
        return result

    def control_plan(self, run_id: str, action: str, now: float, grace: float) -> Plan[ControlResult]:
        """Pause, resume, cancel or terminate the run (``control`` script)."""
        if action not in CONTROL_ACTIONS:
            raise ValueError(f"unknown control action {action!r}")
        terminated = error_record(
            CancelledError(f"run {run_id!r} was terminated (cancel(force=True)): it ended without cleanup"),
            "",
        )
        reply = yield from script(
            "control",
            run_id,
            action,
            num(now),
            num(now + grace),
            json.dumps(terminated),
            *self._expiry(now),
            base=self.shards.base_of(run_id),
        )
        status = text(reply[0])
        if status != "ok":
            raise store_error(status, run_id, status=text(reply[-1]), consequence=f"it cannot {action}")
        woken = text(reply[4])
        released = tuple(text(r) for r in reply[5]) if len(reply) > 5 else ()
        return ControlResult(
            RunStatus(text(reply[1])), RunStatus(text(reply[2])), bool(int(reply[3])), woken or None, released
        )

    def control(self, run_id: str, action: str, now: float, grace: float) -> ControlResult:
        result: ControlResult = self._execute(self.control_plan(run_id, action, now, grace))
        return result

    def reset_plan(
        self, run_id: str, mode: str, now: float, grace: float, truncate_to: int | None = None
    ) -> Plan[RunRecord]:
        """Start a new generation of the run (``reset`` script): a restart, or a retry from ``truncate_to``."""
        if mode not in ("restart", "retry"):
            raise ValueError(f"unknown reset mode {mode!r}")
        reply = yield from script(
            "reset",
            run_id,
            mode,
            num(now),
            num(now + grace),
            "" if truncate_to is None else truncate_to,
            base=self.shards.base_of(run_id),
        )
        status = text(reply[0])
        if status != "ok":
            raise store_error(status, run_id, status=text(reply[-1]))
        return RunRecord.from_text_fields(pairs(reply[1]))

    def reset(
        self, run_id: str, mode: str, now: float, grace: float, truncate_to: int | None = None
    ) -> RunRecord:
        record: RunRecord = self._execute(self.reset_plan(run_id, mode, now, grace, truncate_to))
        return record


def _scored(reply: Sequence[Any]) -> list[tuple[Any, Any]]:
    """A ``WITHSCORES`` reply sent as a raw command, as ``(member, score)`` pairs.

    RESP2 answers a flat ``[member, score, ...]`` list; RESP3 a list of pairs.
    """
    if reply and isinstance(reply[0], (list, tuple)):
        return [(member, score) for member, score in reply]
    items = iter(reply)
    return list(zip(items, items, strict=True))


def _checked_entries(generation: dict[str, Any]) -> dict[str, Any]:
    """An archived generation with each entry read as a journal entry is (:func:`read_entry`).

    ``reset.lua`` archives the journal's raw entries (no decoding in Lua); the other stores
    archive entries as they read them, so an entry that is not one, or sits at the wrong
    position, is the same ``malformed`` stand-in in every store's history.
    """
    entries = generation.get("entries")
    if isinstance(entries, list):
        generation["entries"] = [
            read_entry(json.dumps(entry), position).to_dict() for position, entry in enumerate(entries)
        ]
    return generation
