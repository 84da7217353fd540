"""Who may use the dashboard, and protection of every state-changing request.

* **Binding**: on a loopback address anyone on the machine may use the app; binding anywhere
  else requires a token (:func:`check_bind`), so a dashboard with control actions is never
  exposed to a network without authentication by accident.
* **Authentication** (when a token is set, from ``$FLOWGEN_DASHBOARD_TOKEN`` or ``token=``):
  API clients send ``Authorization: Bearer <token>``; a browser signs in once at ``/login``,
  which sets an HttpOnly, SameSite=Strict cookie holding an HMAC of the token (never the token).
* **CSRF**: every HTML form carries the value of a random ``flowgen_csrf`` cookie and a POST
  whose field does not match it is refused (double-submit). API requests that change state
  must send a JSON body (``application/json``): a page on another site cannot send one without
  a CORS preflight, which this app never answers. A browser signed in by cookie (when a token is
  set) must also send the CSRF cookie's value in ``X-CSRF-Token``; API responses set no cookie,
  so scripts are never asked for it.
* **Read-only mode**: every state-changing request is refused with 403, and pages hide actions.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets

import attrs

from ..errors import ConfigurationError

TOKEN_ENV = "FLOWGEN_DASHBOARD_TOKEN"
AUTH_COOKIE = "flowgen_auth"
CSRF_COOKIE = "flowgen_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@attrs.frozen
class WebSecurity:
    """The dashboard's security settings.

    Attributes:
        token: the shared secret that signs users in (``None``: no authentication, allowed
            only on a loopback address).
        read_only: refuse every action that changes a run.
        key: the key that signs the sign-in cookie (random per process unless given; with
            several server processes behind one address, give them the same key).
    """

    token: str | None = None
    read_only: bool = False
    key: bytes = attrs.field(factory=lambda: secrets.token_bytes(32), repr=False)

    @classmethod
    def from_environment(cls, *, read_only: bool = False, token: str | None = None) -> WebSecurity:
        """Settings with the token from ``token`` or ``$FLOWGEN_DASHBOARD_TOKEN``."""
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        if token is not None and len(token) < 16:
            raise ConfigurationError(
                f"the dashboard token must be at least 16 characters, got {len(token)}; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(24))'"
            )
        return cls(token=token, read_only=read_only)

    def session_value(self) -> str:
        """The sign-in cookie's value: an HMAC of the token, so the cookie never holds it."""
        assert self.token is not None
        return hmac.new(self.key, self.token.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, candidate: str) -> bool:
        """Whether ``candidate`` is the token (compared in constant time)."""
        return self.token is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    def cookie_matches(self, candidate: str | None) -> bool:
        """Whether a sign-in cookie's value is this token's."""
        return (
            bool(candidate)
            and self.token is not None
            and hmac.compare_digest(str(candidate), self.session_value())
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, security: WebSecurity) -> None:
    """Refuse to serve on a non-loopback address without authentication."""
    if not is_loopback(host) and security.token is None:
        raise ConfigurationError(
            f"refusing to serve the dashboard on {host!r} without authentication: anyone who can reach "
            f"it could cancel runs; set ${TOKEN_ENV} (16+ characters) or bind to 127.0.0.1"
        )


def new_csrf_value() -> str:
    """A fresh random CSRF cookie value."""
    return secrets.token_urlsafe(24)


def csrf_matches(cookie: str | None, submitted: str | None) -> bool:
    """Whether a submitted CSRF value matches the cookie's (constant time)."""
    return bool(cookie) and bool(submitted) and hmac.compare_digest(str(cookie), str(submitted))
