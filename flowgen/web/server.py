"""``flowgen dashboard``: serve the app with uvicorn (one process; the app is async and runs
engine calls on a thread pool, so one process serves many users)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ..errors import ConfigurationError
from ..urls import mask_url

logger = logging.getLogger("flowgen.web")


def add_parser(sub: argparse._SubParsersAction[Any], url_help: str) -> argparse.ArgumentParser:
    """Declare ``flowgen dashboard`` on the CLI's sub-command parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "dashboard", help="serve the web dashboard and the HTTP API"
    )
    parser.add_argument("--url", help=url_help)
    parser.add_argument("-m", "--module", action="append", help="import this module first (repeatable)")
    parser.add_argument("--serializer", choices=("json", "pickle"))
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to bind (default 8080; 0 picks a free one)"
    )
    parser.add_argument("--read-only", action="store_true", help="disable every action that changes a run")
    return parser


def serve(engine_factory: object, url: str, host: str, port: int, read_only: bool) -> int:
    """Check the settings, then serve until interrupted (SIGINT/SIGTERM stop it gracefully)."""
    try:
        import uvicorn
    except ImportError:
        raise ConfigurationError(
            "flowgen dashboard needs the web extra: pip install 'dramatiq-flowgen[web]'"
        ) from None
    from . import app
    from .security import WebSecurity, check_bind

    if not 0 <= port <= 65535:
        raise ConfigurationError(f"--port must be from 0 to 65535, got {port}")
    security = WebSecurity.from_environment(read_only=read_only)
    check_bind(host, security)
    assert callable(engine_factory)
    engine = engine_factory()
    try:
        application = app(engine, security=security)
        config = uvicorn.Config(application, host=host, port=port, log_level="info", access_log=False)
        server = uvicorn.Server(config)
        logger.info(
            "flowgen dashboard on %s for %s%s",
            f"http://{host}:{port}",
            mask_url(url),
            " (read-only)" if read_only else "",
        )
        server.run()
    finally:
        engine.close()
    return 0
