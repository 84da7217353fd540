"""Redis Cluster engine URLs: ``redis+cluster://host:port,host:port/?shards=16``.

The URL names some nodes of the cluster (any of them: the client asks one for the cluster's
map and follows ``MOVED``/``ASK`` redirections and failovers from then on) and, optionally:

* a password (``redis+cluster://:secret@host:port,...`` or ``user:secret@``), used on every node;
* ``?shards=N``: how many shards flowgen splits its indexes into (see
  :mod:`flowgen.stores.redis_shards`; every process of a deployment must use the same number);
* ``rediss+cluster://`` for TLS.

The Dramatiq broker's keys live under the hash-tagged namespace :data:`CLUSTER_NAMESPACE`, so
its scripts (which build their keys from the namespace) run in one slot.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigurationError

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
CLUSTER_NAMESPACE = "{flowgen-dramatiq}"
"""The Dramatiq namespace on a cluster: one hash tag, so every broker key is in one slot."""


def _fail(url: str, why: str) -> ConfigurationError:
    from .urls import mask_url

    return ConfigurationError(
        f"malformed Redis Cluster URL {mask_url(url)!r}: {why}; use "
        "redis+cluster://[:password@]host:port[,host:port...][/?shards=N]"
    )


def parse_cluster_url(url: str) -> tuple[list[tuple[str, int]], str | None, str | None, int | None, bool]:
    """Split a cluster URL into ``(nodes, username, password, shards, tls)``.

    Raises:
        ConfigurationError: it names no node, a port is not a number, or ``shards`` is not one.
    """
    from urllib.parse import parse_qs, unquote  # only cluster URLs need it (process start-up)

    scheme, _, rest = url.partition("://")
    authority, _, tail = rest.partition("/")
    authority, _, query_first = authority.partition("?")
    query = query_first or tail.partition("?")[2]
    username = password = None
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        user, colon, secret = userinfo.partition(":")
        username, password = (unquote(user) or None, unquote(secret)) if colon else (None, unquote(user))
    nodes: list[tuple[str, int]] = []
    for item in filter(None, authority.split(",")):
        host, colon, port = item.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise _fail(url, f"node {item!r} is not host:port")
        nodes.append((host, int(port)))
    if not nodes:
        raise _fail(url, "it names no node")
    shards = None
    values = parse_qs(query).get("shards")
    if values:
        if not values[-1].isdigit() or int(values[-1]) < 1:
            raise _fail(url, f"shards={values[-1]!r} is not a number of shards (1 or more)")
        shards = int(values[-1])
    return nodes, username, password, shards, scheme.lower().startswith("rediss")


def cluster_client(url: str) -> Any:
    """A ``redis.cluster.RedisCluster`` client on the nodes ``url`` names."""
    from redis.cluster import ClusterNode, RedisCluster

    nodes, username, password, _shards, tls = parse_cluster_url(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],  # type: ignore[no-untyped-call]
        username=username,
        password=password,
        ssl=tls,
        health_check_interval=30,
    )
