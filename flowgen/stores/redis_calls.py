"""One script call on a held connection: send the packed command, read its one reply.

The store calls a script at every step boundary, on a connection its thread holds (see
:meth:`flowgen.stores.redis.RedisStore._connection`). Through redis-py's connection methods
a reply takes four Python layers (the connection's ``read_response``, the parser's, its socket
read and the error-host formatting), about 140 bytecodes per call; :func:`roundtrip` sends the
command and feeds the parser's hiredis reader from the socket itself, with the same error
behaviour: a socket failure disconnects and raises redis-py's ``ConnectionError`` or
``TimeoutError`` (so the connection's retry policy applies), an error reply raises its
``ResponseError`` (``NoScriptError`` included). When the connection is not in the state this
relies on (not connected, a health check due, a parser without a hiredis reader), it
falls back to redis-py's own methods.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

import hiredis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

try:
    from redis._parsers import hiredis as _parsers

    _PARSER: Any = _parsers._HiredisParser
    NOT_ENOUGH_DATA: Any = _parsers.NOT_ENOUGH_DATA
except (ImportError, AttributeError):  # another redis-py layout: always the public methods
    _PARSER = None
    NOT_ENOUGH_DATA = False

_CLOSED = "Connection closed by server."
_PUSH: Any = getattr(hiredis, "PushNotification", ())
"""hiredis's type for RESP3 push messages (``()``: this hiredis has none, nothing is one)."""


def pack(*args: Any) -> bytes:
    """A command in the Redis protocol (every argument text, bytes or a number)."""
    return bytes(hiredis.pack_command(args))


def roundtrip(conn: Any, packed: bytes) -> Any:
    """Send ``packed`` on ``conn`` and return its reply (see the module docstring)."""
    reply = replies(conn, packed, 1)[0]
    if isinstance(reply, ResponseError):
        raise reply
    return reply


def replies(conn: Any, packed: bytes, count: int) -> list[Any]:
    """Send ``packed`` (``count`` commands) on ``conn`` and return their replies, in order.

    An error reply is returned as its ``ResponseError``, as a pipeline's ``raise_on_error=False``
    does; a socket failure disconnects and raises (see the module docstring).
    """
    sock = getattr(conn, "_sock", None)
    parser: Any = getattr(conn, "_parser", None)
    reader = getattr(parser, "_reader", None)
    buffer = getattr(parser, "_buffer", None)
    interval = conn.health_check_interval
    if (
        sock is None
        or _PARSER is None
        or type(parser) is not _PARSER
        or reader is None
        or not isinstance(buffer, bytearray)
        or (interval and time.monotonic() > conn.next_health_check)
    ):
        return _public(conn, packed, count)
    got: list[Any] = []
    try:
        sock.sendall(packed)
        while len(got) < count:
            reply = reader.gets()
            if reply is NOT_ENOUGH_DATA:
                size = sock.recv_into(buffer)
                if size == 0:
                    raise RedisConnectionError(_CLOSED)
                reader.feed(buffer, 0, size)
            elif isinstance(reply, _PUSH):  # a RESP3 push message: the parser's handlers take it
                parser.handle_push_response(reply)
            else:
                got.append(reply)
    except TimeoutError as error:
        conn.disconnect()
        raise RedisTimeoutError(f"Timeout in a script call: {error}") from error
    except OSError as error:
        conn.disconnect()
        raise RedisConnectionError(f"Error in a script call: {error.args}") from error
    except BaseException:
        conn.disconnect()  # never reuse a connection that may hold an unread reply
        raise
    if interval:
        conn.next_health_check = time.monotonic() + interval
    for reply in got:
        if isinstance(reply, RedisConnectionError):
            conn.disconnect()
            raise reply
    return got


def _public(conn: Any, packed: bytes, count: int) -> list[Any]:
    """:func:`replies` through redis-py's own connection methods."""
    conn.send_packed_command((packed,))
    got = []
    for _ in range(count):
        try:
            got.append(conn.read_response())
        except ResponseError as error:
            got.append(error)
    return got


def reconnecting_retry() -> Retry:
    """Reconnect and resend on a dropped connection, backing off as redis-py's client does.

    A held connection is never checked before use (that is a system call per call), so one the
    server closed (its ``timeout`` for idle clients, a restart) is found on the next call: the
    call fails before Redis ran it, and is sent again on a new connection.
    """
    return Retry(ExponentialWithJitterBackoff(base=0.01, cap=1.0), retries=10)


class HeldConnections:
    """One connection per thread, made like ``client``'s pool makes them, held for the thread's life.

    No pool lock and no "unread data?" poll per call; a forked child makes its own (the fork is
    noticed by a counter bumped at each fork, not by ``os.getpid()``, a system call, per call).
    ``retry`` replaces the pool's retry policy when given (a held connection must reconnect by
    itself when the server dropped it).
    """

    def __init__(self, client: Any, retry: Any = None) -> None:
        self.client = client
        self.retry = retry
        self._local = threading.local()
        self._all: weakref.WeakSet[Any] = weakref.WeakSet()

    def get(self) -> Any:
        """This thread's connection."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.forks != _forks:
            pool = self.client.connection_pool
            kwargs = dict(pool.connection_kwargs)
            if self.retry is not None:
                kwargs["retry"] = self.retry()
            conn = pool.connection_class(**kwargs)
            local.conn = conn
            local.forks = _forks
            self._all.add(conn)
        return conn

    def close(self) -> None:
        """Disconnect every thread's connection (a thread that calls again reconnects)."""
        for conn in list(self._all):
            conn.disconnect()


_forks = 0
"""How many times this process's lineage forked: a thread's connection made before a fork is
not this process's."""


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)
