"""Where metrics are served: by a worker, by the supervisor of its processes, or standalone.

* ``flowgen worker --metrics-port P`` (one process): the worker records its facts and serves
  them with the state gauges on ``http://127.0.0.1:P/metrics``.
* ``flowgen worker --processes N --metrics-port P``: **one exporter per supervisor**. The
  supervisor creates a private directory (0700, removed when it stops) and tells its workers
  (``$FLOWGEN_METRICS_DIR``): each worker writes a snapshot of its counts there, a file of its
  own (its pid and a random part), every half second and when it stops, and the supervisor
  serves their sum (and the state gauges, read from the store) on port P. So a scrape sees every process, a worker that
  crashes and is restarted keeps what it counted (its file stays, the new process writes a new
  one), and two supervisors on one machine never share a directory or a port (Dramatiq's
  middleware shares a fixed folder, which mixes unrelated workers' counts). Workers need no port
  of their own.
* ``flowgen metrics --url URL --port P``: the state gauges alone, for a deployment whose workers
  do not export (or to watch a store from elsewhere).

Every endpoint listens on 127.0.0.1 unless ``--metrics-host`` / ``--host`` says otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..engine import Engine

SUPERVISED_OPTION = "--metrics-supervised"
"""The (hidden) worker option a supervisor gives its children: record, do not serve."""


def check_port(port: object, option: str, error: type[Exception] = ConfigurationError) -> int:
    """Return a TCP port number, or raise ``error`` naming the option and the value."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise error(f"{option} must be a TCP port between 1 and 65535, got {port!r}")
    return port


def check_host(host: object, option: str, error: type[Exception] = ConfigurationError) -> str:
    """Return the address to listen on; an empty one (every interface, silently) is refused."""
    if not isinstance(host, str) or not host.strip():
        raise error(f"{option} must name an address, got {host!r}; 0.0.0.0 listens on every interface")
    return host.strip()


def _listen(port: int, host: str, registry: Any) -> Any:
    from .metrics import serve

    try:
        return serve(port, host, registry)
    except OSError as error:
        raise ConfigurationError(
            f"cannot serve metrics on {host}:{port}: {error.strerror or error}; choose another --metrics-port"
        ) from None


def serve_worker(engine: Engine, host: str, port: int) -> Any:
    """Record ``engine``'s facts and serve them with its state gauges; return the HTTP server."""
    from .metrics import instrument, registry

    instrument(engine)
    return _listen(port, host, registry)


def record_only(engine: Engine) -> None:
    """Count ``engine``'s facts for the supervisor to serve (snapshots in its directory, no state gauges)."""
    from .metrics import write_snapshots

    write_snapshots(engine)


@contextmanager
def supervisor_exporter(
    url: str, host: str, port: int, engine_options: dict[str, Any]
) -> Iterator[dict[str, str]]:
    """Serve the supervised workers' metrics while the block runs; yield the environment they need."""
    from ..engine import Engine
    from .metrics import METRICS_DIR_ENV, metrics_directory, remove_directory, supervisor_registry

    directory = metrics_directory()
    engine = Engine(url, start_workers=False, tracing=False, **engine_options)
    server = None
    try:
        server = _listen(port, host, supervisor_registry(directory, engine))
        yield {METRICS_DIR_ENV: directory}
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        engine.close()
        remove_directory(directory)


def run_exporter(
    url: str | None, host: str, port: int, stop: threading.Event, engine_options: dict[str, Any]
) -> None:
    """Serve the state gauges of the store at ``url`` until ``stop`` is set."""
    from prometheus_client import CollectorRegistry

    from ..engine import Engine
    from .metrics import StoreCollector

    engine = Engine(url, start_workers=False, tracing=False, **engine_options)
    try:
        gauges = CollectorRegistry()
        gauges.register(StoreCollector(engine))
        server = _listen(port, host, gauges)
        try:
            stop.wait()
        finally:
            server.shutdown()
            server.server_close()
    finally:
        engine.close()
