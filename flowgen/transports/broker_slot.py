"""The Dramatiq broker's round trips on a Redis Cluster: one pipeline to the node serving its slot.

Every key of :class:`~flowgen.transports.doorbell.DoorbellRedisBroker` is under the hash-tagged
namespace (``{flowgen-dramatiq}``), so one node holds them all: a plain pipeline to that node
carries scripts and doorbell rings in one round trip, as on a single Redis (a cluster client's
own pipeline refuses scripts and ``PUBLISH``). When the slot moves (a failover, a resharding)
the broker asks the cluster again who serves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

RELOCATED = (redis.exceptions.MovedError, redis.exceptions.AskError, redis.exceptions.TryAgainError)
"""Replies of a cluster node that no longer serves the broker's slot (a failover, a resharding)."""


class SlotPipeline:
    """Mixed into the broker: its round trips on a cluster, and learning the slot's node again."""

    client: Any
    namespace: str
    _cluster: bool

    def _refresh_slots(self) -> None:
        """On a Redis Cluster, ask again which node serves which slot."""
        if self._cluster:
            self.client.nodes_manager.initialize()

    def _slot_pipeline(self) -> Any:
        """On a Redis Cluster, a plain pipeline to the node holding the broker's keys."""
        client = self.client
        return client.get_redis_connection(client.get_node_from_key(self.namespace)).pipeline(transaction=False)

    def _slot_round_trip(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` in one pipeline to the slot's node; error replies come back in place."""
        pipe = self._slot_pipeline()
        for command in commands:
            pipe.execute_command(*command)
        try:
            return list(pipe.execute(raise_on_error=False))
        except redis.ConnectionError:
            self._refresh_slots()  # the node may be gone: learn who serves now
            raise
