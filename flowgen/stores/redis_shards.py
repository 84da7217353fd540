"""Where the Redis store's keys live: one shard on a single Redis, a fixed number on a cluster.

Redis Cluster runs a script only when every key it touches hashes to one slot. A commit writes
its run's keys *and* global indexes (runs by status and workflow, the timers, the ready queue,
the leases), so flowgen splits every global index into ``count`` **shards** and puts each run
in one of them, with the run's keys in its shard's slot:

==============================  =====================================================
single Redis (``count == 0``)   cluster (``count`` shards, ``k`` in ``00..count-1``)
==============================  =====================================================
``P:timers``                    ``P:{t:k.j}:timers``
``P:status:<s>``                ``P:{t:k.j}:status:<s>``
``P:{rid}:meta``                ``P:{t:k.j}:{rid}:meta`` (the first ``{...}`` is the tag)
==============================  =====================================================

Every script receives its shard's base (``P`` or ``P:{t:k.j}``, see :func:`_tag`) as ``KEYS[1]`` and builds each
key it touches from it, so all of them are in that key's slot. (The keys a script touches are
not all known before it runs: an inbox per event type, an index per workflow and status read
from the run's hash; declaring the slot's base key is how a script says where it runs.) A
commit therefore touches one slot: its run's keys and its shard's indexes, atomically, as on a
single Redis. Listing, counting and the reconciler's scans visit every shard and merge.

A run's shard is a hash of its **root id**, the part before the first ``/``: the default id of
a child run is ``<parent>/<position>``, so a child lives in its parent's shard and the scripts
that wake a parent when its child ends stay in one slot.

The single-Redis layout is exactly the one flowgen always had (``count == 0``), so existing
data keeps working and no call pays for sharding.
"""

from __future__ import annotations

import binascii
import json
import uuid
import zlib
from collections.abc import Sequence

from ..errors import RunPlacementError
from .base import NewRun

DEFAULT_CLUSTER_SHARDS = 24
"""Shards on a cluster unless the URL says otherwise (``?shards=N``): an equal number on 2, 3, 4,
6 or 8 masters; every scan (reconciler tick, listing) costs one call per shard."""

MAX_SHARDS = 256


SLOTS = 16384
"""Hash slots of a Redis Cluster."""


def _tag(shard: int, count: int) -> str:
    """The hash tag of shard ``shard`` of ``count``: ``t:NN.J``, the first ``J`` whose slot is in
    the shard's ``1/count`` of the slot space.

    ``redis-cli --cluster create`` gives each master an equal run of slots, so shards spread
    evenly over the masters (24 shards on 3 masters: 8 each; tags hashed at random put 4, 8
    and 4 of 16 on three masters). A resharded cluster moves slots, and the shards go with them.
    """
    low, high = shard * SLOTS // count, (shard + 1) * SLOTS // count
    attempt = 0
    while True:
        tag = f"t:{shard:02d}.{attempt}"
        if low <= binascii.crc_hqx(tag.encode(), 0) % SLOTS < high:
            return tag
        attempt += 1


class Shards:
    """Names the keys of runs and of the per-shard indexes under one prefix.

    Args:
        prefix: the key prefix (``flowgen``).
        count: ``0`` for a single Redis (no sharding), else the number of shards.
    """

    def __init__(self, prefix: str, count: int = 0) -> None:
        if count < 0 or count > MAX_SHARDS:
            raise ValueError(
                f"shards={count!r}: use 0 (a single Redis) or a number of shards from 1 to {MAX_SHARDS}"
            )
        self.prefix = prefix
        self.count = count
        self.bases = [prefix] if count == 0 else [f"{prefix}:{{{_tag(k, count)}}}" for k in range(count)]

    def base_of(self, run_id: str) -> str:
        """The base of the shard ``run_id`` lives in (its scripts' ``KEYS[1]``)."""
        if self.count == 0:
            return self.prefix
        root = run_id.split("/", 1)[0]
        return self.bases[zlib.crc32(root.encode()) % self.count]

    def key(self, run_id: str, suffix: str) -> str:
        """The key ``suffix`` (``meta``, ``journal``...) of run ``run_id``."""
        return f"{self.base_of(run_id)}:{{{run_id}}}:{suffix}"

    def group(self, run_ids: list[str]) -> dict[str, list[int]]:
        """Positions in ``run_ids`` grouped by shard base, in first-seen order."""
        groups: dict[str, list[int]] = {}
        for index, run_id in enumerate(run_ids):
            groups.setdefault(self.base_of(run_id), []).append(index)
        return groups

    @property
    def one_slot(self) -> bool:
        """Every key is in one slot (a single Redis, or one shard on a cluster): structures shared
        by runs of every shard, step limits' holders and rate windows, are then reachable from
        any run's script."""
        return self.count <= 1

    def run_limit_base(self, workflow: str, flow: str | None) -> str | None:
        """The base of the shard a run of ``workflow`` with this flow document must live in:
        its concurrency limits' shard, or ``None`` when it has none (or on a single Redis).

        Every run sharing a limit's gate must be in the gate's shard, so that admission stays in
        the one script that takes the lease (``acquire.lua``). A run with one gate lives in that
        gate's shard (a keyed limit: one shard per key, so the keys spread over the cluster); a
        run with several (a workflow declaring more than one limit) lives in its workflow's
        shard, which every run of that workflow shares.
        """
        if self.count == 0 or not flow or '"gates"' not in flow:
            return None
        gates = json.loads(flow).get("gates") or []
        if not gates:
            return None
        home = str(gates[0][0]) if len(gates) == 1 else f"run:{workflow}"
        return self.bases[zlib.crc32(home.encode()) % self.count]

    def new_run_id(self, workflow: str, flow: str | None) -> str:
        """A fresh run id (32 hex digits, as ``uuid4().hex``) in the shard its limits need
        (:meth:`run_limit_base`): 30 random digits and the first 2-digit suffix that puts it
        there (about ``count`` hashes; the suffixes of one stem all miss with odds of 1 in 50,000
        at 24 shards, and a new stem is drawn)."""
        wanted = self.run_limit_base(workflow, flow)
        while True:
            stem = uuid.uuid4().hex
            if wanted is None or self.base_of(stem) == wanted:
                return stem
            for suffix in range(256):
                run_id = f"{stem[:30]}{suffix:02x}"
                if self.base_of(run_id) == wanted:
                    return run_id

    def placed_id(self, run_id: str, base: str) -> str:
        """``run_id`` with ``+<n>`` after its root, the smallest ``n`` that puts it in shard ``base``
        (deterministic, so a retried start suggests the same id)."""
        root, slash, rest = run_id.partition("/")
        n = 0
        while self.base_of(f"{root}+{n}") != base:
            n += 1
        return f"{root}+{n}{slash}{rest}"

    def shared(self, name: str) -> str:
        """The base of a structure not tied to runs (``schedules``), in one slot of its own."""
        return self.prefix if self.count == 0 else f"{self.prefix}:{{{name}}}"


def check_placement(shards: Shards, runs: Sequence[NewRun]) -> None:
    """Refuse, on a cluster, runs whose scripts would need two slots (see docs/scaling.md).

    Raises:
        RunPlacementError: a child the parent waits for is in another shard than its parent, or
            a run under concurrency limits is not in its limits' shard (:meth:`Shards.run_limit_base`).
    """
    for run in runs:
        base = shards.base_of(run.run_id)
        if run.parent and shards.base_of(run.parent) != base:
            raise RunPlacementError(
                f"child run id {run.run_id!r} is in another shard than its parent {run.parent!r}: on a "
                f"Redis Cluster a child's run_id must start with its parent's root id and a '/' "
                f"(e.g. {run.parent.split('/', 1)[0] + '/' + run.run_id!r}), or be left to flowgen"
            )
        wanted = shards.run_limit_base(run.workflow, run.flow)
        if wanted is not None and wanted != base:
            where = (
                f"its parent {run.parent!r}'s shard" if run.parent else "the shard its root id hashes to"
            )
            fix = (
                "start it with start_child (no parent waiting) and a run_id in the limit's shard, or"
                if run.parent
                else f"give it run_id={shards.placed_id(run.run_id, wanted)!r} (engine.start picks an "
                "id in the limit's shard when given none), or"
            )
            raise RunPlacementError(
                f"run {run.run_id!r} of workflow {run.workflow!r} is under a concurrency limit, whose "
                f"holders on a Redis Cluster live in one shard with every run they admit, and "
                f"{where} is another: {fix} run it against a single Redis"
            )
