"""How the Redis store calls its Lua scripts: one slot's base key declared, on one Redis or a cluster.

Every script is ``_lib.lua`` + ``_flow.lua`` + its own file, and is called with one declared
key, ``KEYS[1]``: the base of the shard it works in (see :mod:`flowgen.stores.redis_shards`),
from which it builds every key it touches. ``_lib.lua`` puts it in front of ``ARGV`` as well, so
``ARGV[1]`` is the base, as the scripts' argument positions were before the key was declared.

On a single Redis a script goes by ``EVALSHA`` on the calling thread's own connection (see
:meth:`ScriptCaller._run`); on a cluster by redis-py's ``RedisCluster``, which routes
by the declared key and follows ``MOVED``/``ASK`` redirections and failovers.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from .redis_shards import Shards

_forks = 0
"""How many times this process's lineage forked: a thread's connection made before a fork is
not this process's (``os.getpid()`` is a system call, too dear to ask at every script call)."""


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)


def _script_retry() -> Retry:
    """Reconnect and resend on a dropped connection, backing off as redis-py's client does."""
    return Retry(ExponentialWithJitterBackoff(base=0.01, cap=1.0), retries=10)


def load_scripts(client: Any, names: Sequence[str]) -> dict[str, Any]:
    """Register each named script (with the shared Lua library prepended) on ``client``."""
    lua = resources.files("flowgen.stores").joinpath("lua")
    library = lua.joinpath("_lib.lua").read_text() + "\n" + lua.joinpath("_flow.lua").read_text()
    return {
        name: client.register_script(library + "\n" + lua.joinpath(f"{name}.lua").read_text())
        for name in names
    }


class ScriptCaller:
    """Calls the store's scripts; mixed into :class:`~flowgen.stores.redis.RedisStore`."""

    client: Any
    cluster: bool
    prefix: str
    shards: Shards
    _scripts: dict[str, Any]

    def _init_calls(self) -> None:
        self._local = threading.local()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()

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
        script = self._scripts[name]
        conn = self._connection()
        try:
            try:
                return self._call(conn, script.sha, self.prefix, args)
            except redis.exceptions.NoScriptError:
                script.sha = self.client.script_load(script.script)
                return self._call(conn, script.sha, self.prefix, args)
        except BaseException as error:
            if not isinstance(error, redis.ResponseError):
                conn.disconnect()  # never reuse a connection that may hold an unread reply
            raise

    def _connection(self) -> Any:
        """This thread's own connection for scripts, made like the pool's.

        A worker thread keeps it for its life; it closes when the thread ends (the
        thread-local goes, and the connection with it) or when the store closes.
        """
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.forks != _forks:
            pool = self.client.connection_pool
            # The pool's kwargs carry no retry policy (a pooled connection is checked when it
            # is handed out); this one is held for the thread's life, so it must reconnect by
            # itself when the server dropped it (an idle timeout, a Redis restart).
            conn = pool.connection_class(**{**pool.connection_kwargs, "retry": _script_retry()})
            self._local.conn = conn
            self._local.forks = _forks
            self._connections.add(conn)
        return conn

    @staticmethod
    def _call(conn: Any, sha: str, base: str, args: Sequence[Any]) -> Any:
        def roundtrip() -> Any:
            conn.send_command("EVALSHA", sha, 1, base, *args)
            return conn.read_response()

        return conn.retry.call_with_retry(roundtrip, lambda _error: conn.disconnect())

    def _close_calls(self) -> None:
        for conn in list(self._connections):
            conn.disconnect()
