"""Fixtures of the Dramatiq-integration tier: flowgen inside an existing Dramatiq app.

* In-process (the StubBroker tier): the app's ``StubBroker`` is the global broker, set here
  before the test app (tests/apps/dramatiq_workflows.py) declares its actors on it; each test
  gets an ``Engine("memory://", broker=stub_broker)`` and a real ``dramatiq.Worker``.
* Real ``dramatiq`` CLI processes (:class:`DramatiqWorkers`) running tests/apps/dramatiq_app.py
  on a real Redis (the test server) or a real RabbitMQ node this session starts on free ports
  (:func:`rabbitmq_url`), never the system's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import dramatiq
import port_for
import psutil
import pytest
from dramatiq.brokers.stub import StubBroker

import flowgen
from tests.conftest import ROOT, WorkerProcess, wait_until

_stub = StubBroker()
_stub.emit_after("process_boot")
dramatiq.set_broker(_stub)

from tests.apps import dramatiq_workflows  # noqa: E402 - its actors need the broker set first

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
"""Debian's server script (``/usr/sbin/rabbitmq-server`` is a wrapper that runs it as the
``rabbitmq`` user, which cannot write this test's directories)."""


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    """The app's StubBroker, emptied before and after the test."""
    _stub.flush_all()
    yield _stub
    _stub.flush_all()


@pytest.fixture
def engine(stub_broker: StubBroker, redis_url: str) -> Iterator[flowgen.Engine]:
    """flowgen on the app's StubBroker, runs in memory (steps keep their ledger on the test Redis)."""
    with flowgen.Engine("memory://", broker=stub_broker, timer_interval=0.02) as built:
        dramatiq_workflows.engine = built
        yield built
        dramatiq_workflows.engine = None


@pytest.fixture
def stub_worker(engine: flowgen.Engine, stub_broker: StubBroker) -> Iterator[dramatiq.Worker]:
    """A real Dramatiq worker on the StubBroker (the broker's FlowgenMiddleware starts flowgen's services)."""
    worker = dramatiq.Worker(stub_broker, worker_timeout=50, worker_threads=4)
    worker.start()
    yield worker
    worker.stop()


# -- a private RabbitMQ node ---------------------------------------------------------------------


class RabbitmqNode:
    """A RabbitMQ server on free ports with its own node name, config and data in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = port_for.select_random()
        self.dist_port = port_for.select_random()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self) -> None:
        home, base = self.directory / "home", self.directory
        for folder in (home, base / "mnesia", base / "log"):
            folder.mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (base / "rabbitmq-env.conf").write_text("")
        (base / "enabled_plugins").write_text("[].\n")
        env = {
            **os.environ,
            "HOME": str(home),  # its own Erlang cookie
            "RABBITMQ_NODENAME": f"flowgen-test-{self.port}@localhost",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        with open(base / "server.log", "wb") as log:
            self.process = subprocess.Popen(
                [RABBITMQ_SERVER], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=base,
                start_new_session=True,
            )
        wait_until(self._answers, 90, f"RabbitMQ on port {self.port} to accept connections", interval=0.25)

    def _answers(self) -> bool:
        import pika

        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"rabbitmq-server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        try:
            pika.BlockingConnection(pika.URLParameters(self.url)).close()
        except Exception:
            return False
        return True

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """A real RabbitMQ server for this session (skipped, saying why, where none is installed)."""
    if not os.path.exists(RABBITMQ_SERVER):
        pytest.skip(f"RabbitMQ is not installed ({RABBITMQ_SERVER} missing): apt-get install rabbitmq-server")
    pytest.importorskip("pika", reason="pika is missing: pip install 'dramatiq[rabbitmq]'")
    node = RabbitmqNode(Path(tempfile.mkdtemp(prefix="flowgen-rabbitmq-")))
    node.start()
    yield node.url
    node.stop()
    shutil.rmtree(node.directory, ignore_errors=True)


# -- dramatiq CLI processes ----------------------------------------------------------------------


class DramatiqProcess(WorkerProcess):
    """A real ``dramatiq tests.apps.dramatiq_app`` process (a main process and its worker children).

    Stopped and killed as a ``flowgen worker`` is (:class:`tests.conftest.WorkerProcess`): SIGTERM
    is Dramatiq's graceful stop, and a kill takes the worker children with the main process.
    """

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, metrics_port: int) -> None:
        super().__init__(process, str(log_path))
        self.metrics_port = metrics_port

    def worker_pids(self) -> set[int]:
        """The pids of the worker processes (the ones that run actors; the main one only supervises)."""
        return {child.pid for child in psutil.Process(self.pid).children(recursive=True)}

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM the main process and wait (see :meth:`WorkerProcess.stop`); return its exit code."""
        return super().stop(timeout)


class DramatiqWorkers:
    """Start ``dramatiq`` CLI processes of the test app on one broker; :meth:`stop_all` stops them."""

    def __init__(self, directory: Path, ledger_url: str) -> None:
        self.directory = directory
        self.ledger_url = ledger_url
        self.started: list[DramatiqProcess] = []

    def start(
        self,
        broker: str,
        broker_url: str,
        store_url: str,
        *,
        threads: int = 4,
        fast: bool = False,
        env: dict[str, str] | None = None,
        crashes: bool = False,
    ) -> DramatiqProcess:
        """Start one ``dramatiq`` process (one worker process); return once flowgen's services run in it.

        ``crashes``: the process is started to die at a fault point, which can come before its
        services have said they started (Dramatiq starts its consumers and threads before the
        ``after_worker_boot`` hook that starts them): its exit counts as started, and the test
        checks what it did.
        """
        index = len(self.started)
        log_path = self.directory / f"dramatiq-{index}.log"
        metrics_port = port_for.select_random()
        metrics_db = self.directory / f"prometheus-{index}"
        metrics_db.mkdir()
        environment = {
            **os.environ,
            "FLOWGEN_TEST_LEDGER_URL": self.ledger_url,
            "FLOWGEN_TEST_BROKER": broker,
            "FLOWGEN_TEST_BROKER_URL": broker_url,
            "FLOWGEN_TEST_STORE_URL": store_url,
            "FLOWGEN_UNSAFE_REDIS": "ignore",
            "dramatiq_prom_port": str(metrics_port),
            "dramatiq_prom_host": "127.0.0.1",
            "dramatiq_prom_db": str(metrics_db),
            "PYTHONPATH": ROOT,
            **(env or {}),
        }
        if fast:
            environment["FLOWGEN_TEST_FAST"] = "1"
        command = [sys.executable, "-m", "dramatiq", "tests.apps.dramatiq_app"]
        command += ["--processes", "1", "--threads", str(threads)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=ROOT)
        started = DramatiqProcess(process, log_path, metrics_port)
        self.started.append(started)

        def ready() -> bool:
            # The log first: a worker started with a fault point may boot, crash as told and
            # exit between two polls, and it did boot.
            if "flowgen services started" in started.log():
                return True
            if process.poll() is not None:
                if crashes:
                    return True
                pytest.fail(f"dramatiq exited with {process.returncode}:\n{started.log()[-5000:]}")
            return False

        wait_until(ready, 60, "the dramatiq worker to boot", interval=0.1)
        return started

    def stop_all(self) -> None:
        for started in self.started:
            started.stop(timeout=30)


@pytest.fixture
def dramatiq_workers(tmp_path: Path, redis_url: str) -> Iterator[DramatiqWorkers]:
    """Start ``dramatiq`` CLI workers of tests/apps/dramatiq_app.py; the ledger is on the test Redis."""
    workers = DramatiqWorkers(tmp_path, redis_url)
    yield workers
    workers.stop_all()


StartDramatiq = Callable[..., DramatiqProcess]


@pytest.fixture(params=["redis", "rabbitmq"])
def app_broker(request: pytest.FixtureRequest, redis_url: str) -> Iterator[tuple[str, str, dramatiq.Broker]]:
    """The app's broker, in this process too: ``(kind, url, broker)``; Redis or a real RabbitMQ.

    On RabbitMQ (one node per session) the test app's queues are purged first.
    """
    kind: str = request.param
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        url = redis_url
        broker: dramatiq.Broker = RedisBroker(url=url)
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        url = request.getfixturevalue("rabbitmq_url")
        broker = RabbitmqBroker(url=url)
        for queue in ("flowgen", "emails", "default"):
            broker.declare_queue(queue)
            broker.flush(queue)
    yield kind, url, broker
    broker.close()


@pytest.fixture
def client(app_broker: tuple[str, str, dramatiq.Broker], redis_url: str) -> Iterator[flowgen.Engine]:
    """The engine a web process of the app would hold: starts runs and sends events on the app's broker."""
    with flowgen.Engine(redis_url, broker=app_broker[2]) as engine:
        yield engine
