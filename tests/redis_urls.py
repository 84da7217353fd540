"""Clients and broker keys for a test Redis URL, single server or local cluster alike.

Kept apart from ``tests/conftest.py`` (which imports pytest) so test apps in worker processes can
use it too.
"""

from __future__ import annotations

from typing import Any

import redis

from flowgen.cluster_urls import CLUSTER_NAMESPACE, CLUSTER_SCHEMES, cluster_client


def is_cluster(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://``)."""
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


def redis_client(url: str) -> Any:
    """A client for ``url``: a ``RedisCluster`` for a ``redis+cluster://`` URL, else a ``Redis``."""
    return cluster_client(url) if is_cluster(url) else redis.Redis.from_url(url)


def broker_key(url: str, name: str) -> str:
    """The Dramatiq broker's key ``name`` (``__heartbeats__``, ``flowgen.msgs``) on ``url``."""
    return f"{CLUSTER_NAMESPACE if is_cluster(url) else 'flowgen-dramatiq'}:{name}"
