"""How the Redis store calls its Lua scripts: one slot's base key declared, on one Redis or a cluster.

Every script is its own file with, in front, what it uses of ``_lib.lua`` and ``_flow.lua``
(:func:`~flowgen.stores.lua_link.link`), and is called with one declared
key, ``KEYS[1]``: the base of the shard it works in (see :mod:`flowgen.stores.redis_shards`),
from which it builds every key it touches. ``_lib.lua`` puts it in front of ``ARGV`` as well, so
``ARGV[1]`` is the base, as the scripts' argument positions were before the key was declared.

On a single Redis a script goes by ``EVALSHA`` on the calling thread's own connection (see
:meth:`ScriptCaller._run`); on a cluster by redis-py's ``RedisCluster``, which routes
by the declared key and follows ``MOVED``/``ASK`` redirections and failovers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis

from . import redis_calls
from .lua_link import definitions, link
from .redis_shards import Shards
from .redis_wire import text

VARIANTS = {"commit_step": "commit"}
"""Scripts made of another's file without its parts marked rare (from a line ``-- [rare`` to a
line ``-- rare]``), loaded with it. ``commit_step`` is ``commit`` for the step boundaries (the
operations of :data:`STEP_KINDS`): Redis runs a script's whole text at every call, so every
library function it links is a new closure (and garbage) at every call, and those parking,
branches and a run's end need were most of a step boundary's Lua."""

STEP_KINDS = frozenset({"append", "start_attempt", "open", "consume", "deliver_cancel"})
"""The operation kinds (``redis_wire.encode_operation``) ``commit_step`` knows; it refuses others."""

_RARE = re.compile(r"^[ \t]*-- \[rare.*?^[ \t]*-- rare\][^\n]*\n", re.S | re.M)


def script_text(name: str) -> str:
    """The text of script ``name`` before linking: its file, or a variant's (:data:`VARIANTS`)."""
    lua = resources.files("flowgen.stores").joinpath("lua")
    if name in VARIANTS:
        return _RARE.sub("", lua.joinpath(f"{VARIANTS[name]}.lua").read_text())
    return lua.joinpath(f"{name}.lua").read_text()


def load_scripts(client: Any, names: Sequence[str]) -> dict[str, Any]:
    """Register each named script and the variants of those (with what each uses of the shared
    Lua library) on ``client``."""
    lua = resources.files("flowgen.stores").joinpath("lua")
    library = definitions(lua.joinpath("_lib.lua").read_text() + "\n" + lua.joinpath("_flow.lua").read_text())
    every = [*names, *(variant for variant, base in VARIANTS.items() if base in names)]
    return {name: client.register_script(link(library, script_text(name))) for name in every}


class ScriptCaller:
    """Calls the store's scripts; mixed into :class:`~flowgen.stores.redis.RedisStore`."""

    client: Any
    cluster: bool
    prefix: str
    shards: Shards
    _scripts: dict[str, Any]

    def _init_calls(self) -> None:
        self._held = redis_calls.HeldConnections(self.client, retry=redis_calls.reconnecting_retry)

    def _run_on(self, base: str, name: str, *args: Any) -> Any:
        """Run script ``name`` in the shard whose base is ``base`` (on a single Redis: the prefix)."""
        if self.cluster:
            return self._scripts[name](keys=[base], args=args)
        return self._run(name, *args)

    def _run(self, name: str, *args: Any) -> Any:
        """Run script ``name`` in the shard of run ``args[0]``.

        On a single Redis: by its SHA on this thread's connection, loading it if Redis lost it.
        This is what redis-py's ``Script.__call__`` does, minus the per-command layers
        (argument filtering, observability hooks, the pool's lock and its "unread data?"
        socket poll), which together cost as much client CPU as the round trip itself and are
        paid at every step boundary. Connection errors disconnect and retry under the
        connection's retry policy, as redis-py does.
        """
        if self.cluster:
            return self._scripts[name](keys=[self.shards.base_of(args[0])], args=args)
        conn = self._connection()
        try:
            try:
                return self._call(conn, self.script_command(name, args))
            except redis.exceptions.NoScriptError:
                self.reload_script(name, self.client.script_load(self._scripts[name].script))
                return self._call(conn, self.script_command(name, args))
        except BaseException as error:
            if not isinstance(error, redis.ResponseError):
                conn.disconnect()  # never reuse a connection that may hold an unread reply
            raise

    def script_command(self, name: str, args: Sequence[Any], base: str | None = None) -> tuple[Any, ...]:
        """The command that calls script ``name`` with ``args`` in the shard whose base is ``base``
        (the prefix when ``None``): what the sync store's connection and the async client send.

        On a single Redis the base goes as the first argument, with no key declared (see
        ``_lib.lua``: a declared bare prefix would fail every call under an ACL such as
        ``~flowgen:*``); on a cluster redis-py's script objects declare it as ``KEYS[1]``.
        """
        return ("EVALSHA", self._scripts[name].sha, 0, self.prefix if base is None else base, *args)

    def script_source(self, name: str) -> str:
        """The Lua source of script ``name`` (loaded again when Redis answers ``NOSCRIPT``)."""
        return text(self._scripts[name].script)

    def reload_script(self, name: str, sha: Any) -> None:
        """Record the SHA Redis gave script ``name`` on ``SCRIPT LOAD``."""
        self._scripts[name].sha = text(sha)

    def _connection(self) -> Any:
        """This thread's own connection for scripts (:class:`~.redis_calls.HeldConnections`).

        A worker thread keeps it for its life; it closes when the thread ends (the
        thread-local goes, and the connection with it) or when the store closes. It reconnects
        by itself when the server dropped it (an idle timeout, a Redis restart).
        """
        return self._held.get()

    @staticmethod
    def _call(conn: Any, command: Sequence[Any]) -> Any:
        # Packed once with hiredis, not through redis-py's serializer (which walks the arguments
        # in Python), and sent and read by redis_calls.roundtrip: together about 10% of a
        # worker's bytecodes per workflow went to redis-py's layers. Every argument is text.
        packed = redis_calls.pack(*command)
        return conn.retry.call_with_retry(lambda: redis_calls.roundtrip(conn, packed), lambda _error: conn.disconnect())

    def _close_calls(self) -> None:
        self._held.close()
