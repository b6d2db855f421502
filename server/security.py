"""Secure by default: bind check, token auth, Host allow-list, Origin check, session cookie.

- The server binds 127.0.0.1. Any other address needs a token (``LATENTGRAPH_TOKEN`` or a
  token file, never argv) unless ``insecure_no_auth`` is set explicitly.
- With a token, every request authenticates with ``Authorization: Bearer <token>``, the
  session cookie (HttpOnly, ``SameSite=Strict``), or ``?token=`` on a GET (which then sets the
  cookie, so a browser opened on the printed URL keeps working).
- Every request (GETs too: DNS rebinding reads) must name an allowed Host: an IP literal,
  ``localhost``, the bind host, or one given with ``allowed_hosts``. A rebinding attack needs a
  DNS name, which is refused.
- State-changing requests and the websocket upgrade must come from no Origin (scripts) or from
  the same origin as the Host, or one given with ``allowed_origins``. ``Origin: null`` is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from server.errors import ForbiddenError, UnauthorizedError
from server.settings import ServerSettings

logger = logging.getLogger(__name__)

TOKEN_ENV = "LATENTGRAPH_TOKEN"
COOKIE = "latentgraph_session"
MIN_TOKEN_LENGTH = 16
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class InsecureBindError(ValueError):
    """Refusing to listen on a non-loopback address without a token."""


def load_token(token_file: Path | None = None, environ: dict[str, str] | None = None
               ) -> str | None:
    """The token from ``LATENTGRAPH_TOKEN`` or a file (first line), or ``None``."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip() or None
    if token_file is not None:
        mode = token_file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("token file %s is readable by other users", token_file)
        text = token_file.read_text(encoding="utf-8").strip()
        if not text:
            raise ValueError(f"token file {str(token_file)!r} is empty")
        token = text.splitlines()[0].strip()
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the token must have at least {MIN_TOKEN_LENGTH} characters")
    return token


def check_bind(settings: ServerSettings) -> None:
    """Refuse a non-loopback bind without a token (unless explicitly insecure)."""
    if settings.is_loopback or settings.token is not None:
        return
    if settings.insecure_no_auth:
        logger.warning("listening on %s WITHOUT authentication (--insecure-no-auth)",
                       settings.host)
        return
    raise InsecureBindError(
        f"refusing to listen on {settings.host!r} without a token: set {TOKEN_ENV} or "
        "--token-file, or pass --insecure-no-auth to accept anyone on the network")


def cookie_value(token: str) -> str:
    """What the session cookie holds: a MAC of the token, never the token itself."""
    return hmac.new(token.encode(), b"latentgraph-session-cookie", hashlib.sha256).hexdigest()


def split_host(host: str) -> tuple[str, int | None]:
    """``("name", port)`` from a Host header value (IPv6 in brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, sep, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
        if not sep:
            name, port = host, ""
    if port and not port.isdigit():
        raise ValueError(f"bad port in host {host!r}")
    return name.rstrip("."), int(port) if port else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class RequestGuard:
    """The checks applied to every request."""

    def __init__(self, settings: ServerSettings) -> None:
        self.token = settings.token
        self.cookie = cookie_value(settings.token) if settings.token else None
        named = {h.lower() for h in settings.allowed_hosts} | {"localhost"}
        if not _is_ip(settings.host) and settings.host not in ("", "0.0.0.0", "::"):
            named.add(settings.host.lower())
        self.hosts = frozenset(named)
        self.origins = frozenset(o.lower().rstrip("/") for o in settings.allowed_origins)

    def host_allowed(self, host_header: str | None) -> bool:
        if host_header is None:
            return True  # HTTP/1.0 tools; browsers always send Host
        try:
            name, _ = split_host(host_header)
        except ValueError:
            return False
        return _is_ip(name) or name in self.hosts

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        if origin is None:
            return True
        origin = origin.strip().lower().rstrip("/")
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or host_header is None:
            return False
        default = 443 if parts.scheme == "https" else 80
        try:
            host, port = split_host(host_header)
            origin_port = parts.port or default
        except ValueError:
            return False
        return (host, port or default) == (parts.hostname.rstrip("."), origin_port)

    def authenticate(self, request: web.Request) -> bool:
        """True when the token came in the query (the caller then sets the cookie)."""
        if self.token is None:
            return False
        bearer = request.headers.get(hdrs.AUTHORIZATION, "")
        if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:].encode(),
                                                                 self.token.encode()):
            return False
        cookie = request.cookies.get(COOKIE, "")
        if self.cookie and hmac.compare_digest(cookie.encode(), self.cookie.encode()):
            return False
        query = request.query.get("token", "")
        if request.method in SAFE_METHODS and query and hmac.compare_digest(
                query.encode(), self.token.encode()):
            return True
        raise UnauthorizedError("unauthorized", "Authentication required",
                                "send 'Authorization: Bearer <token>' or open the URL the "
                                "server printed")


# The editor page and its static files are public code, never data: they load without the
# token so the page can ask for it. Everything else (API, files, websocket) needs it.
PUBLIC_PATHS = frozenset({"/", "/index.html"})
PUBLIC_PREFIX = "/static/"


def _is_public(request: web.Request) -> bool:
    path = request.path
    return request.method in SAFE_METHODS and (
        path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)) and not _is_upgrade(request)


def _is_upgrade(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


def security_middleware(settings: ServerSettings) -> Middleware:
    guard = RequestGuard(settings)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get(hdrs.HOST)
        if not guard.host_allowed(host):
            raise ForbiddenError("host_not_allowed", "Host not allowed", f"Host {host!r}; add "
                                 "it with --allow-host if this name should reach the server")
        if request.method not in SAFE_METHODS or _is_upgrade(request):
            origin = request.headers.get(hdrs.ORIGIN)
            if not guard.origin_allowed(origin, host):
                raise ForbiddenError("origin_not_allowed", "Cross-origin request refused",
                                     f"Origin {origin!r} does not match Host {host!r}")
        try:
            via_query = guard.authenticate(request)
        except UnauthorizedError:
            if not _is_public(request):
                raise
            via_query = False
        response = await handler(request)
        if via_query and guard.cookie and not response.prepared:
            response.set_cookie(COOKIE, guard.cookie, httponly=True, samesite="Strict",
                                path="/", secure=request.secure)
        if not response.prepared:
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return check
