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

import time
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
        conn.send_packed_command((packed,))
        return conn.read_response()
    try:
        sock.sendall(packed)
        reply = reader.gets()
        while reply is NOT_ENOUGH_DATA or isinstance(reply, _PUSH):
            if reply is NOT_ENOUGH_DATA:
                size = sock.recv_into(buffer)
                if size == 0:
                    raise RedisConnectionError(_CLOSED)
                reader.feed(buffer, 0, size)
            else:  # a RESP3 push message ahead of the reply: the parser's handlers take it
                parser.handle_push_response(reply)
            reply = reader.gets()
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
    if isinstance(reply, ResponseError):
        raise reply
    if isinstance(reply, RedisConnectionError):
        conn.disconnect()
        raise reply
    return reply

