"""Build the dashboard's ASGI app: pages at ``/``, the JSON API at ``/api/v1``, assets at ``/static``.

One middleware (:class:`Guard`) applies :mod:`.security` to every request before it reaches a
route: sign-in, read-only mode, the CSRF cookie, JSON bodies for the API, and headers that keep
browsers from running anything the app did not ship (a strict Content-Security-Policy).
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..engine import Engine
from . import api, pages, schedules
from .security import (
    AUTH_COOKIE,
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    WebSecurity,
    csrf_matches,
    new_csrf_value,
)

logger = logging.getLogger("flowgen.web")

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def app(engine: Engine, *, security: WebSecurity | None = None, read_only: bool = False) -> Starlette:
    """The dashboard and API over ``engine``, as an ASGI app.

    Args:
        engine: the engine whose store the app reads and controls (a client engine is enough:
            ``Engine(url, start_workers=False)`` for SQLite).
        security: sign-in and protection settings (default: from the environment, see
            :class:`~flowgen.web.WebSecurity`).
        read_only: refuse every action that changes a run (ignored when ``security`` is given:
            set it there).
    """
    settings = security or WebSecurity.from_environment(read_only=read_only)
    application = Starlette(
        routes=[
            Route("/login", login, methods=["GET", "POST"]),
            Mount("/api/v1", routes=api.routes + schedules.api_routes),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
            *schedules.page_routes,
            *pages.routes,
        ],
        middleware=[Middleware(Guard)],
        exception_handlers={Exception: _unexpected},
    )
    application.state.engine = engine
    application.state.security = settings
    return application


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/")


def _path(request: Request) -> str:
    root = request.scope.get("root_path", "")
    path = request.url.path
    return path[len(root) :] if root and path.startswith(root) else path


class Guard(BaseHTTPMiddleware):
    """Sign-in, read-only mode, CSRF and security headers for every request."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        security: WebSecurity = request.app.state.security
        path = _path(request)
        changes_state = request.method not in ("GET", "HEAD", "OPTIONS")
        csrf = request.cookies.get(CSRF_COOKIE)
        if not csrf:
            request.scope["flowgen_csrf"] = csrf = new_csrf_value()
        bearer = _bearer(request)
        signed_in = security.token is None or security.cookie_matches(request.cookies.get(AUTH_COOKIE))
        by_token = bearer is not None and security.token_matches(bearer)
        if (
            security.token is not None
            and not (signed_in or by_token)
            and not path.startswith(("/login", "/static/"))
        ):
            if _is_api(request):
                return api.error_response("unauthorized", "sign in: send 'Authorization: Bearer <token>'")
            return RedirectResponse(
                f"{request.scope.get('root_path', '')}/login?{urlencode({'next': path})}", 303
            )
        if changes_state and path != "/login":
            refusal = await _refusal(request, security, csrf, by_token)
            if refusal is not None:
                return refusal
        response = await call_next(request)
        if not _is_api(request) and request.cookies.get(CSRF_COOKIE) != csrf:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response


async def _refusal(request: Request, security: WebSecurity, csrf: str, by_token: bool) -> Response | None:
    """Why a state-changing request is refused (``None``: it may go on)."""
    api_request = _is_api(request)
    if security.read_only:
        message = "the dashboard runs in read-only mode: actions are disabled"
        return (
            api.error_response("read_only", message)
            if api_request
            else pages.error_page(request, message, 403)
        )
    if api_request:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/json":
            return api.error_response(
                "json_required",
                f"send a JSON body with Content-Type: application/json (got {content_type or 'none'!r})",
            )
        signed_in_by_cookie = security.token is not None and not by_token
        if signed_in_by_cookie and not csrf_matches(
            request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)
        ):
            # A browser session: its sign-in cookie is ambient, so the page's script must also
            # prove it read this site's CSRF value.
            return api.error_response(
                "csrf_failed", f"send the {CSRF_COOKIE} cookie's value in {CSRF_HEADER}"
            )
        return None
    # The body, not request.form(): Starlette replays a body the middleware read to the route,
    # which then parses the form itself.
    submitted = parse_qs((await request.body()).decode("utf-8", "replace")).get(CSRF_FIELD, [""])[0]
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), submitted):
        return pages.error_page(
            request,
            "the form expired or did not come from this dashboard; reload the page and try again",
            403,
        )
    return None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def login(request: Request) -> Response:
    """Sign in with the dashboard token; sets the sign-in cookie."""
    security: WebSecurity = request.app.state.security
    next_path = request.query_params.get("next", "/runs")
    if not next_path.startswith("/") or next_path.startswith(("//", "/\\")) or "\\" in next_path:
        next_path = "/runs"  # never redirect off this site
    if security.token is None:
        return RedirectResponse(f"{request.scope.get('root_path', '')}{next_path}", 303)
    if request.method == "POST":
        form = await request.form()
        if security.token_matches(str(form.get("token") or "")):
            response = RedirectResponse(f"{request.scope.get('root_path', '')}{next_path}", 303)
            response.set_cookie(
                AUTH_COOKIE, security.session_value(), httponly=True, samesite="strict", path="/"
            )
            return response
        return pages.render(request, "login.html", status_code=401, next_path=next_path, failed=True)
    return pages.render(request, "login.html", next_path=next_path, failed=False)


async def _unexpected(request: Request, error: Exception) -> Response:
    """An error the app did not expect: logged with its traceback, answered without it."""
    logger.exception("dashboard request %s %s failed", request.method, request.url.path)
    message = f"internal error ({type(error).__name__}); the server's log has the details"
    if _is_api(request):
        return api.error_response("internal", message)
    return HTMLResponse(
        f"<!doctype html><title>flowgen: error</title><p>{type(error).__name__}</p>", status_code=500
    )
