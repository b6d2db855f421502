"""What the official ComfyUI frontend reads besides the core API: its static site
(``--frontend comfyui``), the model library, templates, i18n, global subgraphs, folder paths,
the About panel's version, all answered as ComfyUI answers them (in-process, a fake site)."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from PIL import Image

from latentgraph import cli_serve
from latentgraph.cli import _parser, main
from nodes.api import Registry
from server import comfy_site, templates
from server.settings import COMFYUI_VERSION, MODEL_FOLDERS
from server.state import SETTINGS
from tests.server.conftest import ClientFactory, make_app, make_settings
from tests.server.stub_pack import server_registry


def _site(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "extensions" / "core").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>ComfyUI</title>")
    (root / "assets" / "index-1.js").write_text("export const x = 1;")
    (root / "assets" / "favicon.ico").write_bytes(b"\0\0\1\0")
    (root / "extensions" / "core" / "clipspace.js").write_text("export const c = 1;")
    (root / "secret.py").write_text("x = 1")
    return root


@pytest_asyncio.fixture
async def site_client(aiohttp_client: ClientFactory, registry: Registry, tmp_path: Path
                      ) -> TestClient:
    settings = make_settings(tmp_path / "base", frontend_root=_site(tmp_path / "site"))
    checkpoint = settings.models_dir / "checkpoints" / "sd15" / "tiny.safetensors"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"12345")
    Image.new("RGB", (4, 4), "red").save(checkpoint.with_suffix(".png"))
    return await aiohttp_client(make_app(registry, settings))


async def _json(client: TestClient, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, (path, await response.text())
    return await response.json()


@pytest.mark.asyncio
async def test_the_site_is_served_and_the_api_still_answers(site_client: TestClient) -> None:
    page = await site_client.get("/")
    assert page.status == 200 and "<title>ComfyUI</title>" in await page.text()
    assert page.headers["Content-Type"].startswith("text/html")
    script = await site_client.get("/assets/index-1.js")
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    for refused in ("/secret.py", "/assets/", "/assets/../secret.py", "/nothing.js"):
        assert (await site_client.get(refused)).status == 404, refused
    assert (await _json(site_client, "/api/prompt"))["exec_info"]["queue_remaining"] == 0
    assert (await site_client.get("/static/js/main.js")).status == 404  # not our editor
    assert (await site_client.get("/favicon.ico")).status == 200
    css = await site_client.get("/user.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")


@pytest.mark.asyncio
async def test_first_run_defaults_answer_the_frontends_start_up_requests(
        site_client: TestClient) -> None:
    for folder in ("workflows", "subgraphs"):
        listing = await site_client.get(f"/api/userdata?dir={folder}&recurse=true&full_info=true")
        assert listing.status == 200 and await listing.json() == []
    assert await _json(site_client, "/api/userdata/comfy.templates.json") == []
    assert (await site_client.get("/api/userdata/user.css")).status == 200
    saved = await site_client.post("/api/userdata/user.css?overwrite=true", data=b"body{}")
    assert saved.status == 200


@pytest.mark.asyncio
async def test_loaders_the_frontend_assumes_are_listed_hidden_and_refused(
        site_client: TestClient) -> None:
    info = await _json(site_client, "/api/object_info")
    for name in ("ControlNetLoader", "GLIGENLoader", "StyleModelLoader",
                 "ImageOnlyCheckpointLoader"):
        assert info[name]["deprecated"] is True and "Not available" in info[name]["description"]
    assert "deprecated" not in info["Constant"]  # our own nodes are as they were
    one = await _json(site_client, "/api/object_info/ControlNetLoader")
    assert one["ControlNetLoader"]["output"] == ["CONTROL_NET"]
    prompt = {"1": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "x"}}}
    refused = await site_client.post("/api/prompt", json={"prompt": prompt})
    assert refused.status == 400


@pytest.mark.asyncio
async def test_extensions_add_our_about_badge_and_serve_core_modules(
        site_client: TestClient) -> None:
    urls = await _json(site_client, "/api/extensions")
    assert "/extensions/latentgraph/about.js" in urls
    assert not any(url.startswith("/extensions/core/") for url in urls)
    about = await site_client.get("/extensions/latentgraph/about.js")
    assert "aboutPageBadges" in await about.text()
    assert (await site_client.get("/extensions/core/clipspace.js")).status == 200
    stats = await _json(site_client, "/api/system_stats")
    assert stats["system"]["comfyui_version"] == COMFYUI_VERSION == "0.3.64"
    assert stats["system"]["latentgraph_version"]


@pytest.mark.asyncio
async def test_the_routes_comfyui_serves_answer_empty(site_client: TestClient) -> None:
    for path in ("/api/i18n", "/api/workflow_templates", "/api/global_subgraphs"):
        assert await _json(site_client, path) == {}, path
    assert await _json(site_client, "/templates/index.json") == []
    assert await _json(site_client, "/templates/index.fr.json") == []
    assert await _json(site_client, "/templates/index_logo.json") == {}
    assert (await site_client.get("/templates/default-1.webp")).status == 404
    assert (await site_client.get("/api/global_subgraphs/x")).status == 404


@pytest.mark.asyncio
async def test_model_library_lists_our_folders_without_absolute_paths(
        site_client: TestClient, tmp_path: Path) -> None:
    folders = await _json(site_client, "/api/experiment/models")
    names = [f["name"] for f in folders]
    assert "checkpoints" in names and "configs" not in names
    assert {f["name"]: f["folders"] for f in folders}["checkpoints"] == ["models/checkpoints"]
    (entry,) = await _json(site_client, "/api/experiment/models/checkpoints")
    assert entry["name"] == "sd15/tiny.safetensors" and entry["pathIndex"] == 0
    assert entry["size"] == 5 and entry["modified"] > 0 and entry["created"] > 0
    assert await _json(site_client, "/api/experiment/models/loras") == []
    assert (await site_client.get("/api/experiment/models/nope")).status == 404
    paths = await _json(site_client, "/internal/folder_paths")
    assert sorted(paths) == sorted(MODEL_FOLDERS)
    assert paths["checkpoints"] == ["models/checkpoints"]
    assert str(tmp_path) not in (await (await site_client.get("/internal/folder_paths")).text())


@pytest.mark.asyncio
async def test_model_previews(site_client: TestClient) -> None:
    base = "/api/experiment/models/preview/checkpoints"
    preview = await site_client.get(f"{base}/0/sd15/tiny.webp")
    assert preview.status == 200 and preview.headers["Content-Type"] == "image/webp"
    assert (await preview.read())[8:12] == b"WEBP"
    checkpoint = site_client.app[SETTINGS].models_dir / "checkpoints" / "sd15" / "tiny.png"
    checkpoint.unlink()  # a model without a preview: a transparent 1×1 image, not an error
    blank = await site_client.get(f"{base}/0/sd15/tiny.webp")
    assert blank.status == 200 and Image.open(io.BytesIO(await blank.read())).size == (1, 1)
    for missing in ("0/sd15/other.webp", "1/sd15/tiny.webp", "x/tiny.webp",
                    "0/../../../etc/passwd"):
        assert (await site_client.get(f"{base}/{missing}")).status == 404, missing


@pytest.mark.asyncio
async def test_installed_templates_are_served(aiohttp_client: ClientFactory,
                                              registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "index.json").write_text('[{"moduleName": "default", "templates": []}]')
    (folder / "default-1.webp").write_bytes(b"RIFF0000WEBP")
    settings = make_settings(tmp_path / "base", template_folders=(folder,))
    client = await aiohttp_client(make_app(registry, settings))
    assert (await _json(client, "/templates/index.json"))[0]["moduleName"] == "default"
    thumb = await client.get("/templates/default-1.webp")
    assert thumb.status == 200 and thumb.headers["Content-Type"] == "image/webp"
    assert await _json(client, "/templates/index_logo.json") == {}
    assert (await client.get("/templates/../base/jobs.db")).status == 404


def test_template_folders_need_their_media(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    json_only, media = tmp_path / "json" / "templates", tmp_path / "media" / "templates"
    for folder in (json_only, media):
        folder.mkdir(parents=True)
        (folder / "index.json").write_text("[]")
    (media / "x-1.webp").write_bytes(b"")
    found = {"comfyui_workflow_templates_json": json_only}
    monkeypatch.setattr(templates.metadata, "packages_distributions",
                        lambda: {name: ["dist"] for name in [*found, "torch"]})
    monkeypatch.setattr(templates, "_package_folder", lambda name: found.get(name))
    assert templates.find_template_folders() == ()
    found["comfyui_workflow_templates_media_image"] = media
    assert templates.find_template_folders() == (json_only, media)


def test_frontend_comfyui_without_the_package_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comfy_site.importlib.util, "find_spec", lambda name: None)
    status = main(["serve", "--base-dir", str(tmp_path), "--frontend", "comfyui"],
                  registry=server_registry())
    out = capsys.readouterr().out
    assert status == 2
    assert "not installed" in out and "pip install comfyui-frontend-package==1.27.10" in out


def test_preview_method_taesd_says_it_uses_latent2rgb(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    args = _parser().parse_args(["serve", "--base-dir", str(tmp_path),
                                 "--preview-method", "taesd"])
    with caplog.at_level(logging.WARNING):
        settings = cli_serve._checked_settings(args)
    assert settings.preview_method == "taesd"
    assert "no TAESD decoder" in caplog.text and "latent2rgb" in caplog.text
