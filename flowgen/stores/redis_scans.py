"""The reconciler's scans over every shard of a Redis Cluster, in one order as on one Redis.

On a single Redis ``claim_timers.lua`` and ``reconcile.lua`` take the first ``limit`` entries of
one index by score. On a cluster each shard has its own index; taking ``limit`` from each would
claim up to ``shards * limit`` runs, and taking them shard after shard would serve the first
shards first. So a scan first reads the due entries of every shard (one pipelined round trip),
keeps the ``limit`` earliest of all, and runs the script on each shard with its share: the
runs claimed are the earliest due of the whole cluster, in due order, at most ``limit``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any

from .redis_wire import text


def _due(
    client: Any, bases: Sequence[str], index: str, ceiling: str, limit: int
) -> list[list[tuple[float, str]]]:
    pipe = client.pipeline(transaction=False)
    for base in bases:
        pipe.zrangebyscore(f"{base}:{index}", "-inf", ceiling, start=0, num=limit, withscores=True)
    return [[(float(score), text(member)) for member, score in reply] for reply in pipe.execute()]


def scan_shards(
    client: Any,
    bases: Sequence[str],
    limit: int,
    indexes: Sequence[tuple[str, str]],
    run: Callable[[str, int], Any],
) -> list[str]:
    """Run ``run(base, share)`` on each shard holding some of the ``limit`` earliest entries.

    ``indexes`` are ``(index name, highest score)`` in the order the script serves them
    (``reconcile.lua``: the leases, then the ready runs). Returns the run ids the scripts
    returned, ordered as one index would order them.
    """
    ranked: list[tuple[str, str]] = []  # (base, run id), earliest first
    for index, ceiling in indexes:
        per_shard = _due(client, bases, index, ceiling, limit)
        merged = heapq.merge(
            *(
                [(score, rid, base) for score, rid in entries]
                for base, entries in zip(bases, per_shard, strict=True)
            )
        )
        ranked += [(base, rid) for _, rid, base in merged]
    ranked = ranked[:limit]
    share: dict[str, int] = {}
    for base, _ in ranked:
        share[base] = share.get(base, 0) + 1
    position = {rid: place for place, (_, rid) in enumerate(ranked)}
    found = [text(rid) for base, count in share.items() for rid in run(base, count)]
    return sorted(found, key=lambda rid: position.get(rid, len(position)))
