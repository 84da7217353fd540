"""``flowgen dashboard``: serve the web dashboard and the HTTP API (:mod:`flowgen.web`)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from .common import URL_HELP, open_engine


def cmd_dashboard(args: argparse.Namespace) -> int:
    from ..web.server import serve

    url = args.url or os.environ.get("FLOWGEN_URL") or "sqlite:///flowgen.sqlite3"
    return serve(lambda: open_engine(args), url, args.host, args.port, args.read_only)


def register(sub: Any) -> None:
    """Add ``dashboard`` to the ``flowgen`` parser."""
    from ..web.server import add_parser

    add_parser(sub, URL_HELP).set_defaults(handler=cmd_dashboard)
