"""Engine URLs: which store and transport a URL names.

* ``redis://host:port/db`` (or ``rediss://``, ``unix://``): the Redis store and the Dramatiq
  transport, sharing one Redis client. Runs advance in ``flowgen worker`` processes.
* ``sqlite:///path/to/file.db``: the embedded SQLite store and the in-process transport.
* ``memory://``: the in-memory store and the in-process transport (nothing survives the process).
* no URL: ``$FLOWGEN_URL`` if set, else :data:`DEFAULT_URL`.

The engine only asks this module for a :class:`Backend`; it never parses URLs itself.
"""

from __future__ import annotations

import os

import attrs

from .errors import ConfigurationError
from .stores.base import Store
from .transports.base import Transport

DEFAULT_URL = "sqlite:///flowgen.sqlite3"
REDIS_SCHEMES = ("redis", "rediss", "unix")
EMBEDDED_SCHEMES = ("sqlite", "memory")


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


def open_backend(url: str, *, retention: float | None, prefix: str, queue: str, threads: int) -> Backend:
    """Open the store and transport ``url`` names.

    Args:
        retention: seconds a finished run is kept (Redis and SQLite).
        prefix / queue: the Redis key prefix and the Dramatiq queue name.
        threads: worker threads of the in-process transport (embedded URLs).

    Raises:
        ConfigurationError: the URL is malformed or its scheme is not supported.
    """
    scheme = url_scheme(url)
    if scheme in REDIS_SCHEMES:
        import redis

        from .stores.redis import RedisStore
        from .transports.dramatiq import redis_transport

        try:
            client = redis.Redis.from_url(url, health_check_interval=30)
        except ValueError as error:
            raise ConfigurationError(f"malformed Redis URL {url!r}: {error}") from error
        store = RedisStore(client=client, prefix=prefix, retention=retention)
        return Backend(store, redis_transport(client, queue), embedded=False)
    if scheme == "sqlite":
        from .stores.sqlite import SQLiteStore
        from .transports.local import LocalTransport

        return Backend(SQLiteStore(sqlite_path(url), retention=retention), LocalTransport(threads), True)
    if scheme == "memory":
        from .stores.memory import MemoryStore
        from .transports.local import LocalTransport

        return Backend(MemoryStore(), LocalTransport(threads), embedded=True)
    raise ConfigurationError(
        f"unsupported engine URL {url!r}: use redis://host:port/db, sqlite:///path/to/file.db or memory://"
    )
