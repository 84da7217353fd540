"""Engine URLs: which store and transport a URL names.

* ``redis://host:port/db`` (or ``rediss://``, ``unix://``): the Redis store and the Dramatiq
  transport, sharing one Redis client. Runs advance in ``flowgen worker`` processes.
* ``redis+cluster://host:port,host:port/?shards=N``: the same on a Redis Cluster (see
  :mod:`flowgen.cluster_urls`).
* ``sqlite:///path/to/file.db``: the embedded SQLite store and the in-process transport.
* ``memory://``: the in-memory store and the in-process transport (nothing survives the process).
* no URL: ``$FLOWGEN_URL`` if set, else :data:`DEFAULT_URL`.

The engine only asks this module for a :class:`Backend`; it never parses URLs itself. A URL
shown anywhere (logs, errors) goes through :func:`mask_url` first: it may carry a password.
"""

from __future__ import annotations

import os
import re

import attrs

from .cluster_urls import CLUSTER_NAMESPACE, CLUSTER_SCHEMES, cluster_client, parse_cluster_url
from .errors import ConfigurationError
from .stores.base import Store
from .transports.base import Transport

DEFAULT_URL = "sqlite:///flowgen.sqlite3"
REDIS_SCHEMES = ("redis", "rediss", "unix")
EMBEDDED_SCHEMES = ("sqlite", "memory")


_SECRET_QUERY = re.compile(r"(?i)((?:^|&)(?:password|pass|pwd)=)[^&]*")


def mask_url(url: str) -> str:
    """Return ``url`` with its password hidden, fit for logs, errors and command lines.

    ``redis://:s3cret@host:6379/0`` becomes ``redis://:***@host:6379/0`` and
    ``redis://user:s3cret@host`` ``redis://user:***@host``; user information without a colon
    (which some clients read as a password) becomes ``***``, and a ``password=`` query
    parameter ``password=***``. Works on malformed URLs too: it never parses the port.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority_and_path, question, query = rest.partition("?")
    if "@" in authority_and_path:
        userinfo, _, host = authority_and_path.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        authority_and_path = f"{user}:***@{host}" if colon else f"***@{host}"
    if question:
        query = _SECRET_QUERY.sub(r"\1***", query)
    return f"{scheme}{separator}{authority_and_path}{question}{query}"


def require_redis_url(url: str, what: str) -> str:
    """Return ``url`` if it names Redis; else raise :class:`ConfigurationError` saying why ``what`` needs it."""
    if url_scheme(url) not in REDIS_SCHEMES + CLUSTER_SCHEMES:
        raise ConfigurationError(
            f"{what} needs a redis:// URL, got {mask_url(url)!r}: sqlite:// and memory:// engines advance "
            "runs on threads of the process that opens them (flowgen.Engine(url) in your program)"
        )
    return url


@attrs.frozen
class Backend:
    """What a URL opens: the store, the transport, and whether runs advance in this process."""

    store: Store
    transport: Transport
    embedded: bool


def resolve_url(url: str | None) -> str:
    """Return ``url``, else ``$FLOWGEN_URL``, else :data:`DEFAULT_URL`."""
    return url or os.environ.get("FLOWGEN_URL") or DEFAULT_URL


def url_scheme(url: str) -> str:
    """Return the lower-case scheme of ``url`` (``""`` when it has none)."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def sqlite_path(url: str) -> str:
    """Return the file path of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL."""
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or "?" in rest or "#" in rest:
        raise ConfigurationError(
            f"malformed SQLite URL {url!r}: use sqlite:///relative/path.db or sqlite:////absolute/path.db "
            "(no host, no query string)"
        )
    path = rest[1:]
    if not path or path.endswith("/"):
        raise ConfigurationError(f"malformed SQLite URL {url!r}: it names no file")
    return path


def open_store(url: str, *, retention: float | None, prefix: str) -> Store:
    """Open the store ``url`` names, without a transport (an engine on an app's broker).

    Raises:
        ConfigurationError: the URL is malformed or its scheme is not supported.
    """
    scheme = url_scheme(url)
    if scheme in REDIS_SCHEMES:
        import redis

        from .stores.redis import RedisStore

        try:
            client = redis.Redis.from_url(url, health_check_interval=30)
        except ValueError as error:
            raise ConfigurationError(f"malformed Redis URL {mask_url(url)!r}: {error}") from error
        return RedisStore(client=client, prefix=prefix, retention=retention)
    if scheme in CLUSTER_SCHEMES:
        from .stores.redis import RedisStore

        shards = parse_cluster_url(url)[3]
        return RedisStore(client=cluster_client(url), prefix=prefix, retention=retention, shards=shards)
    if scheme == "sqlite":
        from .stores.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url), retention=retention)
    if scheme == "memory":
        from .stores.memory import MemoryStore

        return MemoryStore()
    raise ConfigurationError(
        f"unsupported engine URL {mask_url(url)!r}: use redis://host:port/db, "
        "redis+cluster://host:port,host:port, sqlite:///path/to/file.db or memory://"
    )


def open_backend(url: str, *, retention: float | None, prefix: str, queue: str, threads: int) -> Backend:
    """Open the store and transport ``url`` names.

    Args:
        retention: seconds a finished run is kept (Redis and SQLite).
        prefix / queue: the Redis key prefix and the Dramatiq queue name.
        threads: worker threads of the in-process transport (embedded URLs).

    Raises:
        ConfigurationError: the URL is malformed or its scheme is not supported.
    """
    store = open_store(url, retention=retention, prefix=prefix)
    if url_scheme(url) in REDIS_SCHEMES + CLUSTER_SCHEMES:
        from .stores.redis import RedisStore
        from .transports.dramatiq import redis_transport

        assert isinstance(store, RedisStore)
        if store.cluster:
            return Backend(store, redis_transport(store.client, queue, CLUSTER_NAMESPACE), embedded=False)
        return Backend(store, redis_transport(store.client, queue), embedded=False)
    from .transports.local import LocalTransport

    return Backend(store, LocalTransport(threads), embedded=True)
