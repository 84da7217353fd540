"""A real local Redis Cluster for the tests: 3 masters and 3 replicas on free loopback ports.

Each node is a ``redis-server --cluster-enabled yes`` in its own directory; ``redis-cli --cluster
create ... --cluster-replicas 1`` joins them. The cluster is ready when every node reports
``cluster_state:ok`` and knows all six nodes (polled with a deadline, never a fixed sleep).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

MASTERS = 3
READY_TIMEOUT = 120.0
"""Seconds to wait for the cluster to form: generous, for a machine under heavy load."""


def _free_ports(count: int) -> list[int]:
    """Ports free now whose cluster-bus port (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


class LocalCluster:
    """Starts, inspects and stops the nodes of one local cluster."""

    def __init__(self, directory: Path, replicas: int = 1, persistence: bool = True) -> None:
        self.directory = directory
        self.replicas = replicas
        self.persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if persistence else []
        self.ports = _free_ports(MASTERS * (1 + replicas))
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The engine URL naming every node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        for port in self.ports:
            node_dir = self.directory / str(port)
            node_dir.mkdir(parents=True, exist_ok=True)
            self.processes[port] = subprocess.Popen(
                [
                    server,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    # a replica takes over however long ago it last heard from its master
                    "--cluster-replica-validity-factor",
                    "0",
                    *self.persistence,
                    "--save",
                    "",
                    "--dir",
                    str(node_dir),
                    "--logfile",
                    str(node_dir / "redis.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        self._wait(lambda: all(self._ping(port) for port in self.ports), "every node answers PING")
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=READY_TIMEOUT,
        )
        self.wait_ok(len(self.ports))
        self._wait(self._replicas_synced, "replica in sync with its master")

    def _replicas_synced(self) -> bool:
        """Every replica finished its first sync (a master killed before that has no heir)."""
        replicas = 0
        for port in self.ports:
            try:
                with redis.Redis(port=port, socket_timeout=5) as client:
                    info = client.info("replication")
            except redis.RedisError:
                return False
            if info.get("role") == "slave":
                if info.get("master_link_status") != "up":
                    return False
                replicas += 1
        return replicas == MASTERS * self.replicas

    def wait_ok(self, known: int, ports: list[int] | None = None) -> None:
        """Wait until every node in ``ports`` reports ``cluster_state:ok`` and knows ``known`` nodes."""
        self._wait(lambda: all(self._ok(port, known) for port in (ports or self.ports)), "cluster_state:ok")

    def masters(self) -> list[int]:
        """Ports of the nodes that serve slots now (as node ``ports[0]``... see them)."""
        live = next(port for port in self.ports if self._ping(port))
        with redis.Redis(port=live, socket_timeout=10) as client:
            nodes = client.execute_command("CLUSTER", "NODES").decode()
        return [
            int(line.split()[1].split(":")[1].split("@")[0])
            for line in nodes.splitlines()
            if "master" in line.split()[2] and "fail" not in line.split()[2] and len(line.split()) > 8
        ]

    def kill(self, port: int) -> None:
        """Kill node ``port`` with SIGKILL (no chance to persist or hand over)."""
        process = self.processes.pop(port)
        process.kill()
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        self.processes.clear()

    def flush(self) -> None:
        """Empty every master's data (replicas follow)."""
        for port in self.masters():
            with redis.Redis(port=port, socket_timeout=30) as client:
                client.flushall()

    @staticmethod
    def _ping(port: int) -> bool:
        try:
            with redis.Redis(port=port, socket_timeout=5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    @staticmethod
    def _ok(port: int, known: int) -> bool:
        try:
            with redis.Redis(port=port, socket_timeout=5) as client:
                info = client.execute_command("CLUSTER", "INFO").decode()
        except redis.RedisError:
            return False
        fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
        return fields.get("cluster_state") == "ok" and int(fields.get("cluster_known_nodes", 0)) >= known

    @staticmethod
    def _wait(condition: object, what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise TimeoutError(f"local Redis Cluster: no {what} within {READY_TIMEOUT} s")
            time.sleep(0.1)
