"""The store operations that are nothing but :mod:`~flowgen.stores.logic` in one transaction.

The memory and SQLite stores differ in how they open a transaction (a lock; ``BEGIN`` or
``BEGIN IMMEDIATE`` on a per-thread connection) and in a few operations they answer from their
own data structures (listing, inboxes, waiting for a finish). Everything else is the same call
of a :mod:`~flowgen.stores.logic` function inside a read or a write transaction, written once
here.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..errors import LeaseLostError
from ..journal import Entry
from . import flow_logic, logic, run_control
from .base import Commit, CommitResult, ControlResult, NewRun, RunRecord, SendResult, Snapshot, Store


class TransactionalStore(Store):
    """A :class:`Store` whose operations run :mod:`~flowgen.stores.logic` over a :class:`~flowgen.stores.logic.Tx`.

    Subclasses provide ``_read()`` (a consistent snapshot to read from) and ``_write()`` (an
    exclusive transaction that commits as a whole or not at all), plus the operations of
    :class:`Store` that are not here.
    """

    @abc.abstractmethod
    def _read(self) -> AbstractContextManager[logic.Tx]:
        """A read transaction: everything read inside it is one consistent snapshot."""

    @abc.abstractmethod
    def _write(self) -> AbstractContextManager[logic.Tx]:
        """A write transaction: exclusive, committed as a whole or rolled back on error."""

    # -- runs -------------------------------------------------------------------------------

    def create_runs(self, runs: Sequence[NewRun], now: float, grace: float) -> list[tuple[bool, RunRecord]]:
        with self._write() as tx:
            return logic.create_runs(tx, runs, now, grace)

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._read() as tx:
            return tx.get_meta(run_id)

    def read_journal(self, run_id: str, offset: int = 0) -> list[Entry]:
        with self._read() as tx:
            return tx.journal_read(run_id, offset)

    # -- advancing --------------------------------------------------------------------------

    def acquire(self, run_id: str, owner: str, ttl: float, now: float, offset: int = 0) -> Snapshot | None:
        with self._write() as tx:
            return logic.acquire(tx, run_id, owner, ttl, now, offset)

    def load(self, run_id: str, event_types: Sequence[str] = (), offset: int | None = None) -> Snapshot:
        with self._read() as tx:
            return logic.load(tx, run_id, event_types, offset)

    def commit(self, commit: Commit, now: float, grace: float) -> CommitResult:
        with self._write() as tx:
            return logic.commit(tx, commit, now, grace)

    def release(self, run_id: str, epoch: int) -> None:
        with self._write() as tx:
            logic.release(tx, run_id, epoch)

    def renew(self, leases: Sequence[tuple[str, int]], ttl: float, now: float) -> list[str]:
        if not leases:
            return []
        with self._write() as tx:
            return logic.renew(tx, leases, ttl, now)

    # -- events, timers, reconciliation -----------------------------------------------------

    def send_event(
        self, run_id: str, event_type: str, payload: str, event_id: str, now: float, grace: float
    ) -> SendResult:
        with self._write() as tx:
            return logic.send_event(tx, run_id, event_type, payload, event_id, now, grace)

    def claim_due_timers(self, now: float, limit: int, grace: float) -> list[str]:
        with self._write() as tx:
            return logic.claim_due_timers(tx, now, limit, grace)

    def reconcile(self, now: float, limit: int, grace: float, backlog: float = 0.0) -> list[str]:
        with self._write() as tx:
            return logic.reconcile(tx, now, limit, grace, backlog)

    # -- parallel steps ---------------------------------------------------------------------

    def branch_begin(
        self, run_id: str, key: str, attempt: int, ttl: float, now: float
    ) -> dict[str, Any] | None:
        with self._write() as tx:
            return logic.branch_begin(tx, run_id, key, attempt, ttl, now)

    def branch_parked_until(self, run_id: str, key: str) -> float | None:
        with self._read() as tx:
            parked = (tx.branches(run_id).get(key) or {}).get("pk")
        return float(parked) if parked is not None else None

    def branch_finish(
        self, run_id: str, key: str, attempt: int, outcome: dict[str, Any], now: float, grace: float
    ) -> list[str]:
        with self._write() as tx:
            return logic.branch_finish(tx, run_id, key, attempt, outcome, now, grace)

    def renew_branches(self, branches: Sequence[tuple[str, str, int]], ttl: float, now: float) -> None:
        if not branches:
            return
        with self._write() as tx:
            logic.renew_branches(tx, branches, ttl, now)

    # -- control and inspection -------------------------------------------------------------

    def control(self, run_id: str, action: str, now: float, grace: float) -> ControlResult:
        with self._write() as tx:
            return run_control.control(tx, run_id, action, now, grace)

    def reset(
        self, run_id: str, mode: str, now: float, grace: float, truncate_to: int | None = None
    ) -> RunRecord:
        with self._write() as tx:
            return run_control.reset(tx, run_id, mode, now, grace, truncate_to)

    def children(self, run_id: str) -> list[str]:
        with self._read() as tx:
            return tx.children(run_id)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        with self._read() as tx:
            return tx.history(run_id)

    # -- flow control -----------------------------------------------------------------------

    def take_step(
        self, run_id: str, epoch: int, gates: Sequence[Sequence[Any]], now: float, lease_until: float
    ) -> float | None:
        with self._write() as tx:
            record = tx.get_meta(run_id)
            if record is None or record.epoch != epoch or not record.owner:
                raise LeaseLostError(
                    f"run {run_id!r}: epoch {epoch} lost its lease before a step slot was taken"
                )
            return flow_logic.take_step(tx, run_id, gates, now, lease_until)

    def release_step(self, run_id: str, names: Sequence[str], now: float, grace: float) -> list[str]:
        with self._write() as tx:
            return flow_logic.release_step(tx, run_id, names, now, grace)

    def block_key(self, key: str, until: float) -> None:
        with self._write() as tx:
            flow_logic.block(tx, key, until)

    def timed_out(self, run_id: str, now: float) -> float:
        with self._write() as tx:
            return flow_logic.timed_out(tx, run_id, now)

    def take_lane(self, now: float) -> str | None:
        with self._write() as tx:
            return flow_logic.take_lane(tx, now)

    def flow_status(self, run_id: str) -> dict[str, Any] | None:
        with self._read() as tx:
            document = tx.flow_get(run_id)
            if document is None:
                return None
            return {**document, "blocked_by": flow_logic.blocked_by(tx, run_id)}
