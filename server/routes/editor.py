"""The browser editor: ``/`` serves ``web/index.html``, ``/static/...`` our modules and styles
and the vendored litegraph files (``web/vendor/``, fetched by ``scripts/fetch_web_deps.py``).

Only files with a known type are served, each with its type, ``nosniff`` and ``no-cache``
(the editor changes with the checkout); no directory listing, nothing outside the allowed
folders (one containment helper, symlinks resolved). The page carries a Content-Security-Policy
that allows scripts from this origin only, so text that slipped into HTML could not run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from nodes.api.paths import PathRefusedError, resolve_inside
from server.errors import NotFoundError

logger = logging.getLogger(__name__)

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
SERVED_DIRS = ("js", "css", "vendor")
CONTENT_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
    ".json": "application/json", ".png": "image/png", ".svg": "image/svg+xml",
    ".map": "application/json", ".woff2": "font/woff2",
}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'")
NO_CACHE = "no-cache"


def _file_response(path: Path, content_type: str) -> web.FileResponse:
    response = web.FileResponse(path, headers={
        "Content-Type": content_type, "X-Content-Type-Options": "nosniff",
        "Cache-Control": NO_CACHE})
    return response


def static_file(root: Path, tail: str) -> tuple[Path, str]:
    """The file ``tail`` names under one of the served folders of ``root``, and its type."""
    first = tail.split("/", 1)[0]
    suffix = Path(tail).suffix.lower()
    if first not in SERVED_DIRS or suffix not in CONTENT_TYPES:
        raise NotFoundError("not_found", "No such file", tail)
    try:
        path = resolve_inside(root / first, tail[len(first) + 1:], what="path")
    except PathRefusedError:
        raise NotFoundError("not_found", "No such file", tail) from None
    if not path.is_file():
        raise NotFoundError("not_found", "No such file", tail)
    return path, CONTENT_TYPES[suffix]


def web_routes(root: Path = WEB_ROOT) -> list[web.RouteDef]:
    async def index(request: web.Request) -> web.StreamResponse:
        page = root / "index.html"
        if not (root / "vendor" / "litegraph" / "litegraph.es.js").is_file():
            logger.error("the editor's litegraph files are missing: run "
                         "python scripts/fetch_web_deps.py")
            return web.Response(status=503, content_type="text/plain", text=(
                "The editor's third-party files are missing. Run: "
                "python scripts/fetch_web_deps.py\n"))
        response = _file_response(page, "text/html")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    async def static(request: web.Request) -> web.StreamResponse:
        path, content_type = static_file(root, request.match_info["tail"])
        return _file_response(path, f"{content_type}; charset=utf-8"
                              if content_type.startswith("text/") else content_type)

    return [web.get("/", index), web.get("/index.html", index),
            web.get("/static/{tail:.+}", static)]


def add_web_routes(app: web.Application, root: Path = WEB_ROOT) -> None:
    """Serve the editor (not under ``/api``: these are pages, not API routes)."""
    app.router.add_routes(web_routes(root))
