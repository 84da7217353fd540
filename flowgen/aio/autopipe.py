"""Automatic pipelining for the async client: one connection, shared by every coroutine.

``redis.asyncio`` spends more client CPU per command than a local round trip takes (a pooled
connection's checkout, a timeout wrapped around each read, pure-Python packing): called once
per command, a few hundred coroutines starting runs at once are bound by that CPU, not by
Redis. :class:`AutoPipeline` instead takes commands from any number of coroutines, writes those
that came in during one turn of the event loop to **one connection** at once (packed by
hiredis), and a reader task hands each reply, in order, to the future of the command it
answers: Redis answers the commands of a connection in the order it received them. Redis runs
every command on its own, exactly as if it had been sent alone; only the cost changes.

The connection is made on the first command (with the client's URL, credentials and database)
and again after it is lost; when it is lost, the commands waiting for a reply fail with
``redis.ConnectionError`` (the caller sees ``StoreUnavailableError``), as a plain call would.
Replies get redis-py's response callbacks (``HGETALL`` is a dict), so plans decode them as the
sync store's replies. Blocking commands (``BLMOVE``) never go through it: they would hold up
every command behind them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any


class AutoPipeline:
    """Sends every coroutine's commands over one multiplexed connection (see the module docstring).

    Args:
        client: a ``redis.asyncio.Redis`` client: its pool makes the connection, and its
            response callbacks shape the replies.
    """

    def __init__(self, client: Any) -> None:
        import hiredis
        import redis
        from redis._parsers.base import BaseParser

        self.client = client
        self._pack = hiredis.pack_command
        self._reader_class = hiredis.Reader
        self._reply_error = hiredis.ReplyError
        self._parse_error: Any = BaseParser.parse_error
        self._connection_error = redis.ConnectionError
        self._callbacks: dict[str, Any] = dict(client.response_callbacks)
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._waiting: collections.deque[tuple[str, asyncio.Future[Any]]] = collections.deque()
        self._scheduled = False
        self._writer: asyncio.StreamWriter | None = None
        self._connection: Any = None
        self._connecting: asyncio.Task[None] | None = None
        self._reading: asyncio.Task[None] | None = None

    def submit(self, command: tuple[Any, ...]) -> asyncio.Future[Any]:
        """Queue ``command`` for the next write; the future gets its reply (or its error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((command, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        if self._writer is None:
            if self._connecting is None:
                self._connecting = asyncio.get_running_loop().create_task(self._connect())
            return  # the connection flushes once it is made
        batch, self._pending = self._pending, []
        try:
            payload = b"".join(self._pack(command) for command, _ in batch)
        except Exception as error:  # an argument hiredis cannot pack: fail that batch only
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for command, future in batch:
            self._waiting.append((str(command[0]).upper(), future))
        self._writer.write(payload)

    async def _connect(self) -> None:
        connection = self.client.connection_pool.make_connection()
        try:
            await connection.connect()
        except Exception as error:
            self._connecting = None
            self._fail(self._pending, error)
            self._pending = []
            return
        self._connection = connection
        self._writer = connection._writer
        self._reading = asyncio.get_running_loop().create_task(self._read(connection._reader))
        self._connecting = None
        self._flush()

    async def _read(self, stream: asyncio.StreamReader) -> None:
        parser = self._reader_class()
        try:
            while True:
                data = await stream.read(1 << 16)
                if not data:
                    raise self._connection_error("Redis closed the connection")
                parser.feed(data)
                reply = parser.gets()
                while reply is not False:
                    self._answer(reply)
                    reply = parser.gets()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._lost(
                error if isinstance(error, self._connection_error) else self._connection_error(str(error))
            )

    def _answer(self, reply: Any) -> None:
        name, future = self._waiting.popleft()
        if future.done():
            return  # its caller was cancelled
        if isinstance(reply, self._reply_error):
            future.set_exception(self._parse_error(str(reply)))
            return
        callback = self._callbacks.get(name)
        try:
            future.set_result(callback(reply) if callback is not None else reply)
        except Exception as error:
            future.set_exception(error)

    def _lost(self, error: BaseException) -> None:
        """The connection failed: fail the commands awaiting replies; the next command reconnects."""
        self._writer = None
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection._writer.close()
        waiting = [future for _, future in self._waiting]
        self._waiting.clear()
        self._fail([((), future) for future in waiting], error)
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    @staticmethod
    def _fail(batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]], error: BaseException) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        """Close the connection; commands still waiting fail."""
        for task in (self._connecting, self._reading):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._lost(self._connection_error("the async client was closed"))
        self._fail(self._pending, self._connection_error("the async client was closed"))
        self._pending = []
