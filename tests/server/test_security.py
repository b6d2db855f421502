"""Security by default: traversal corpus, Host/Origin checks, tokens, uploads, sessions."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, WSServerHandshakeError
from aiohttp.test_utils import TestClient
from PIL import Image

from nodes.api import Registry
from server.security import COOKIE, InsecureBindError
from server.settings import ServerSettings
from tests.server.conftest import ClientFactory, connect, make_app, make_settings
from tests.server.stub_pack import png_bytes

pytestmark = pytest.mark.asyncio

SECRET = "TOP-SECRET-CONTENT"
TRAVERSALS = [
    "../secret.txt", "../../secret.txt", "sub/../../secret.txt", "%2e%2e/secret.txt",
    "..%2fsecret.txt", "/etc/passwd", "//etc/passwd", "C:\\Windows\\win.ini",
    "..\\secret.txt", "sub\\..\\..\\secret.txt", "secret.txt\x00.png", "link_out.png",
    "dir_out/secret.txt",
]


@pytest.fixture
def planted(settings: ServerSettings) -> ServerSettings:
    """A secret next to the base folder, and symlinks out of every folder."""
    secret = settings.base_dir / "secret.txt"
    secret.write_text(SECRET)
    for root in (settings.input_dir, settings.output_dir, settings.temp_dir,
                 settings.user_dir / "default", settings.models_dir):
        os.symlink(secret, root / "link_out.png")
        os.symlink(settings.base_dir, root / "dir_out")
    return settings


def raw_multipart(filename: str, data: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart body built by hand (aiohttp's client refuses NUL in a file name)."""
    boundary = "----latentgraph-test-boundary"
    quoted = filename.replace("\\", "\\\\")  # quoted-string escaping keeps the backslashes
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             .encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                 f'filename="{quoted}"\r\nContent-Type: image/png\r\n\r\n'.encode()
                 + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def refused(response: Any, bad: str = "") -> None:
    """Refused (4xx) and no secret shown. A name with a literal ``%`` (double-encoded in the
    URL) is a plain name after one decoding: it may be served or written, inside the folder."""
    text = await response.text()
    assert SECRET not in text
    if response.status in (200, 204) and "%" in bad:
        return
    assert response.status in (400, 403, 404), (response.status, response.url)


@pytest.mark.parametrize("bad", TRAVERSALS)
async def test_view_refuses_traversal(client: TestClient, planted: ServerSettings,
                                      bad: str) -> None:
    for kind in ("input", "output", "temp"):
        await refused(await client.get("/view", params={"filename": bad, "type": kind}))
        await refused(await client.get("/view", params={"filename": "secret.txt",
                                                        "subfolder": bad, "type": kind}))
    await refused(await client.get(f"/view?filename={bad}"))  # %2e%2e decoded by the server


@pytest.mark.parametrize("bad", TRAVERSALS)
async def test_uploads_refuse_traversal(client: TestClient, planted: ServerSettings,
                                        bad: str) -> None:
    async def upload(path: str, name: str, **fields: str) -> None:
        body, content_type = raw_multipart(name, png_bytes(), fields)
        response = await client.post(path, data=body, headers={"Content-Type": content_type})
        if response.status == 200:  # form fields are not URL-decoded: "%2e%2e" is a plain name
            assert "%" in bad, bad
            stored = await response.json()
            target = planted.input_dir / stored["subfolder"] / stored["name"]
            assert target.resolve().is_relative_to(planted.input_dir.resolve())
            return
        await refused(response)

    await upload("/upload/image", bad)
    await upload("/upload/image", "ok.png", subfolder=bad)
    await upload("/upload/mask", "m.png",
                 original_ref=json.dumps({"filename": bad, "type": "input"}))
    await upload("/upload/mask", "m.png", original_ref=json.dumps(
        {"filename": "secret.txt", "subfolder": bad, "type": "input"}))
    outside = [p for p in planted.base_dir.parent.iterdir() if p.name.startswith("ok")]
    assert outside == []
    assert (planted.base_dir / "secret.txt").read_text() == SECRET


@pytest.mark.parametrize("bad", TRAVERSALS)
async def test_userdata_and_models_refuse_traversal(client: TestClient, planted: ServerSettings,
                                                    bad: str) -> None:
    from urllib.parse import quote

    quoted = quote(bad, safe="")
    await refused(await client.get(f"/userdata/{quoted}"), bad)
    await refused(await client.post(f"/userdata/{quoted}", data=b"pwned"), bad)
    await refused(await client.delete(f"/userdata/{quoted}"), bad)
    await refused(await client.post(f"/userdata/x.json/move/{quoted}"), bad)
    await refused(await client.get("/userdata", params={"dir": bad}), bad)
    await refused(await client.get("/v2/userdata", params={"path": bad}), bad)
    await refused(await client.get("/view_metadata/loras", params={"filename": bad}), bad)
    assert (planted.base_dir / "secret.txt").read_text() == SECRET
    user_root = (planted.user_dir / "default").resolve()
    written = [p for p in planted.base_dir.rglob("*") if p.is_file()
               and p.read_bytes() == b"pwned"]
    assert all(p.resolve().is_relative_to(user_root) for p in written), written


async def test_user_listings_skip_links_out(client: TestClient, planted: ServerSettings) -> None:
    # Model folders are the owner's configuration: links placed there (a shared model store)
    # are listed (issue 18, tests/nodes/models/test_folders.py); user data is request-written
    # and never follows a link out.
    (planted.models_dir / "checkpoints").mkdir()
    os.symlink(planted.base_dir / "secret.txt",
               planted.models_dir / "checkpoints" / "x.safetensors")
    assert await (await client.get("/models/checkpoints")).json() == ["x.safetensors"]
    metadata = await client.get("/view_metadata/checkpoints", params={"filename": "x.safetensors"})
    assert metadata.status == 400 and SECRET not in await metadata.text()
    listing = await (await client.get("/userdata?dir=.&recurse=true")).json()
    assert all("secret" not in p and "link_out" not in p for p in listing)


async def test_html_posing_as_png_and_bombs_are_refused(client: TestClient,
                                                        settings: ServerSettings) -> None:
    def form(data: bytes, name: str = "x.png") -> FormData:
        out = FormData()
        out.add_field("image", data, filename=name, content_type="image/png")
        return out

    html = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"
    for payload in (html, b"<svg onload=alert(1)>", b"GIF89a<script>"):
        response = await client.post("/upload/image", data=form(payload))
        assert response.status == 400
        assert (await response.json())["error"]["type"] == "invalid_image"
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, format="PNG")  # 144 MP, tiny on disk
    response = await client.post("/upload/image", data=form(bomb.getvalue()))
    assert response.status == 413
    svg = await client.post("/upload/image", data=form(png_bytes(), "x.svg"))
    assert (await svg.json())["name"] == "x.png"  # stored under the decoded type's name
    assert list(settings.input_dir.glob("*.svg")) == []


async def test_uploads_are_size_limited(aiohttp_client: ClientFactory, registry: Registry,
                                        tmp_path: Path) -> None:
    client = await aiohttp_client(make_app(registry, make_settings(tmp_path,
                                                                  max_upload_bytes=1000)))
    data = FormData()
    data.add_field("image", b"\x00" * 5000, filename="x.png", content_type="image/png")
    assert (await client.post("/upload/image", data=data)).status == 413
    assert (await client.post("/prompt", data=b"{" * 100_000)).status == 413


async def test_rebinding_host_is_refused(client: TestClient) -> None:
    for host in ("evil.example:8188", "attacker.localhost.evil.com", "x:y"):
        response = await client.get("/history", headers={"Host": host})
        assert response.status == 403, host
        assert (await response.json())["error"]["type"] == "host_not_allowed"
    for host in ("localhost:8188", "127.0.0.1:8188", "[::1]:8188", "LOCALHOST"):
        assert (await client.get("/history", headers={"Host": host})).status == 200, host


async def test_cross_origin_posts_and_websockets_are_refused(client: TestClient) -> None:
    body = json.dumps({"prompt": {}})
    for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
        response = await client.post("/prompt", data=body, headers={"Origin": origin})
        assert response.status == 403, origin
        assert (await response.json())["error"]["type"] == "origin_not_allowed"
        for path in ("/interrupt", "/queue", "/upload/image", "/userdata/x.json"):
            assert (await client.post(path, headers={"Origin": origin})).status == 403
        with pytest.raises(WSServerHandshakeError) as refused_ws:
            await client.ws_connect("/ws", headers={"Origin": origin})
        assert refused_ws.value.status == 403
    same = f"http://{client.host}:{client.port}"
    response = await client.post("/prompt", data=body, headers={"Origin": same})
    assert response.status == 400  # passed the check; refused for its empty prompt
    ws = await client.ws_connect("/ws", headers={"Origin": same})
    await ws.close()
    assert (await client.get("/history", headers={"Origin": "http://evil.example"})
            ).status == 200  # a cross-origin GET cannot read the answer (no CORS)


async def test_non_loopback_bind_needs_a_token(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(InsecureBindError):
        make_app(registry, make_settings(tmp_path, host="0.0.0.0"))
    make_app(registry, make_settings(tmp_path, host="0.0.0.0", token="t" * 20))
    make_app(registry, make_settings(tmp_path, host="0.0.0.0", insecure_no_auth=True))


async def test_token_auth_and_strict_cookie(aiohttp_client: ClientFactory, registry: Registry,
                                            tmp_path: Path) -> None:
    token = "correct-horse-battery-staple"
    client = await aiohttp_client(make_app(registry, make_settings(tmp_path, token=token)))
    assert (await client.get("/queue")).status == 401
    assert (await client.get("/queue", headers={"Authorization": "Bearer nope"})).status == 401
    assert (await client.get("/queue", headers={"Authorization": f"Bearer {token}"})
            ).status == 200
    assert (await client.post(f"/interrupt?token={token}")).status == 401  # query: GET only
    with pytest.raises(WSServerHandshakeError) as unauthorised:
        await client.ws_connect("/ws")
    assert unauthorised.value.status == 401
    response = await client.get(f"/queue?token={token}")
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert "SameSite=Strict" in cookie and "HttpOnly" in cookie and token not in cookie
    assert (await client.get("/queue")).status == 200  # the cookie jar now holds it
    ws = await client.ws_connect("/ws")
    await ws.close()
    client.session.cookie_jar.clear()
    assert (await client.get("/system_stats")).status == 401
    stats = await client.get("/system_stats", headers={"Authorization": f"Bearer {token}"})
    assert token not in await stats.text()
    assert COOKIE in cookie


async def test_live_websocket_sessions_cannot_be_taken_over(client: TestClient) -> None:
    victim, sid = await connect(client, "victim-id")
    assert sid == "victim-id"
    thief, thief_sid = await connect(client, "victim-id")
    assert thief_sid != "victim-id"
    await thief.close()
    await victim.close()
    reloaded, again = await connect(client, "victim-id")  # a browser reload gets it back
    assert again == "victim-id"
    await reloaded.close()


async def test_unhandled_errors_are_500_with_a_request_id(
        client: TestClient, registry: Registry, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("internal detail 1234")

    monkeypatch.setattr(registry, "object_info", broken)
    with caplog.at_level(logging.ERROR):
        response = await client.get("/object_info")
    body = await response.json()
    assert response.status == 500
    request_id = body["error"]["extra_info"]["request_id"]
    assert response.headers["X-Request-Id"] == request_id
    assert "internal detail" not in json.dumps(body) and "Traceback" not in json.dumps(body)
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_editor_page_loads_without_token_but_data_does_not(
        aiohttp_client: ClientFactory, registry: Registry, tmp_path: Path) -> None:
    token = "correct-horse-battery-staple"
    client = await aiohttp_client(make_app(registry, make_settings(tmp_path, token=token)))
    page = await client.get("/")
    assert page.status in (200, 503)  # 503: the vendored editor files are not fetched yet
    assert (await client.get("/static/js/main.js")).status in (200, 404)
    for path in ("/queue", "/history", "/view?filename=x.png", "/object_info",
                 "/static/../queue"):
        assert (await client.get(path)).status in (401, 403, 404), path
    assert (await client.post("/", data=b"{}")).status == 401  # only safe methods are public
    opened = await client.get(f"/?token={token}")
    assert COOKIE in opened.headers.get("Set-Cookie", "")  # the page URL still logs in
