"""``flowgen metrics``: serve a store's state gauges to Prometheus (:mod:`flowgen.observability`)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Any

from ..urls import mask_url
from .common import URL_HELP, UsageError, engine_options


def require_prometheus() -> None:
    """Refuse metrics options when prometheus-client is not installed."""
    if importlib.util.find_spec("prometheus_client") is None:
        raise UsageError("metrics need prometheus-client: pip install 'dramatiq-flowgen[metrics]'")


def cmd_metrics(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ..observability.serving import check_host, check_port, run_exporter

    check_port(args.port, "--port", error=UsageError)
    args.host = check_host(args.host, "--host", error=UsageError)
    require_prometheus()
    stop = threading.Event()

    def request_stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    url = args.url or os.environ.get("FLOWGEN_URL")
    print(
        f"serving the state gauges of {mask_url(url or 'the default store')} on http://{args.host}:{args.port}/metrics"
    )
    sys.stdout.flush()
    run_exporter(url, args.host, args.port, stop, engine_options(args))
    return 0


def register(sub: Any) -> None:
    """Add ``metrics`` to the ``flowgen`` parser."""
    metrics = sub.add_parser("metrics", help="serve a store's state gauges to Prometheus")
    metrics.add_argument("--url", help=URL_HELP)
    metrics.add_argument("--port", type=int, default=9191, help="port to listen on (default 9191)")
    metrics.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    metrics.set_defaults(handler=cmd_metrics)
