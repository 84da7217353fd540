"""A private ``redis-server`` for one benchmark run: a free port, no persistence, no eviction.

Benchmarks never touch a developer's Redis: the server lives in a temporary directory and is
stopped (SIGTERM, then SIGKILL) when the run ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

import redis


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` child process with persistence off (``save ""``, ``appendonly no``).

    Persistence is off because it would add fork and fsync noise to both sides of every
    comparison; flowgen's worker is told not to warn about it (``FLOWGEN_UNSAFE_REDIS=ignore``).
    """

    def __init__(self, executable: str | None = None, unix_socket: bool = False) -> None:
        self.executable = executable or shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="flowgen-bench-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.socket = os.path.join(self.directory, "redis.sock") if unix_socket else None
        self.url = f"unix://{self.socket}?db=0" if self.socket else f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisServer:
        """Start the server and wait until it answers PING."""
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.directory,
            "--maxmemory-policy",
            "noeviction",
            "--protected-mode",
            "no",
            "--loglevel",
            "warning",
        ]
        if self.socket:
            command += ["--unixsocket", self.socket, "--unixsocketperm", "700"]
        log = open(os.path.join(self.directory, "redis.log"), "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        client = self.client()
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server did not start on port {self.port}; see {self.directory}/redis.log"
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()

    def client(self, **options: Any) -> redis.Redis:
        """A new client on the server."""
        return redis.Redis.from_url(self.url, **options)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def used_memory(client: redis.Redis) -> int:
    """Redis ``used_memory`` less client buffers, in bytes: what the data takes.

    Client input and output buffers come and go with whoever is connected and what they just
    read, so they are left out; everything else (keys, values, the key dictionaries and
    their expiry entries) counts.
    """
    used = int(client.info("memory")["used_memory"])
    stats = client.memory_stats()
    return used - int(stats.get("clients.normal", 0)) - int(stats.get("clients.slaves", 0))


def settle_memory(client: redis.Redis, rounds: int = 3) -> int:
    """Read ``used_memory`` once it stops moving (lazy frees and client buffers settle)."""
    last = used_memory(client)
    for _ in range(rounds):
        time.sleep(0.2)
        current = used_memory(client)
        if abs(current - last) < 4096:
            return current
        last = current
    return last
