"""The dashboard and HTTP API: an ASGI app over an :class:`~flowgen.Engine`.

``flowgen dashboard --url ...`` serves it with uvicorn; a service mounts it in its own
Starlette or FastAPI app with ``app.mount("/flowgen", flowgen.web.app(engine))``. It reads the
store directly (runs, journals, generations, inboxes), so what it shows lasts as long as the
store keeps the runs. Needs the ``web`` extra (``pip install 'dramatiq-flowgen[web]'``):
Starlette, Jinja2 and uvicorn; nothing here is imported by ``import flowgen``.

Layout: :mod:`.asgi` builds the app, :mod:`.api` is the JSON API under ``/api/v1``,
:mod:`.pages` the HTML pages, :mod:`.security` authentication, CSRF and read-only mode,
:mod:`.views` turns runs and journals into what pages and the API show (the timeline, why a run
is not moving), :mod:`.openapi` the API's OpenAPI document, :mod:`.server` the CLI's server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .security import WebSecurity

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from ..engine import Engine

__all__ = ["WebSecurity", "app"]


def app(engine: Engine, *, security: WebSecurity | None = None, read_only: bool = False) -> Starlette:
    """The dashboard and API over ``engine`` as an ASGI app (see :func:`flowgen.web.asgi.app`).

    Imports Starlette only when called, so ``flowgen.web.server`` (the CLI's part) loads without
    the ``web`` extra and can say it is missing.
    """
    from .asgi import app as build

    return build(engine, security=security, read_only=read_only)
