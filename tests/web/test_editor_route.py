"""The editor's static route: types, nosniff, CSP, no listing, containment.

Against the session's real server over HTTP (synchronous: the Playwright session owns this
thread's event loop), plus the containment helper and the missing-files page directly.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.errors import NotFoundError
from server.routes.editor import add_web_routes, static_file
from tests.web.conftest import Server


def fetch(server: Server, path: str) -> http.client.HTTPResponse:
    """GET a raw path (no client-side normalisation of ``..``)."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def test_index_page_has_csp_nosniff_and_no_cache(server: Server) -> None:
    response = fetch(server, "/")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-cache"
    assert b'<script type="module" src="/static/js/main.js">' in response.body


@pytest.mark.parametrize(("path", "content_type"), [
    ("/static/js/main.js", "text/javascript; charset=utf-8"),
    ("/static/css/editor.css", "text/css; charset=utf-8"),
    ("/static/vendor/litegraph/litegraph.es.js", "text/javascript; charset=utf-8"),
    ("/static/vendor/litegraph/css/litegraph.css", "text/css; charset=utf-8"),
])
def test_assets_are_served_with_their_type(server: Server, path: str, content_type: str
                                           ) -> None:
    response = fetch(server, path)
    assert response.status == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", [
    "/static/js/", "/static/js", "/static/", "/static/tests/bigjson.test.js",
    "/static/package.json", "/static/index.html", "/static/js/../../pyproject.toml",
    "/static/js/%2e%2e/%2e%2e/README.md", "/static/vendor/litegraph/.integrity",
    "/api/static/js/main.js", "/static/js/nothing.js", "/static/vendor/litegraph/LICENSE",
])
def test_no_listing_nothing_outside_and_no_unknown_types(server: Server, path: str) -> None:
    assert fetch(server, path).status == 404, path


def test_symlinks_out_of_the_folders_are_refused(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    secret = tmp_path / "secret.js"
    secret.write_text("secret")
    (tmp_path / "js" / "link.js").symlink_to(secret)
    (tmp_path / "js" / "ok.js").write_text("ok")
    assert static_file(tmp_path, "js/ok.js")[1] == "text/javascript"
    with pytest.raises(NotFoundError):
        static_file(tmp_path, "js/link.js")


def test_missing_vendor_files_answer_503_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    seen: dict[str, object] = {}

    async def check() -> None:
        app = web.Application()
        add_web_routes(app, tmp_path)
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/")
            seen["status"], seen["text"] = response.status, await response.text()

    thread = threading.Thread(target=lambda: asyncio.run(check()))  # a loop of its own
    thread.start()
    thread.join(30)
    assert seen["status"] == 503
    assert "fetch_web_deps.py" in str(seen["text"])
