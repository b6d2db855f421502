"""Information routes, the common script flow, files (/view, uploads) and user data."""

from __future__ import annotations

import dataclasses
import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image

from nodes.api import Registry
from server.settings import ServerSettings
from tests.server.conftest import (
    connect,
    is_end_of,
    make_app,
    make_settings,
    messages_until,
    queue_prompt,
)
from tests.server.stub_pack import Previewer, png_bytes, save_prompt

pytestmark = pytest.mark.asyncio


async def get_json(client: TestClient, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, (path, await response.text())
    return await response.json()


async def test_common_script_flow(client: TestClient) -> None:
    """POST /prompt → ws until executing{node: null} → /history → /view (ComfyUI's example)."""
    ws, sid = await connect(client, "script-client")
    assert sid == "script-client"
    pid = (await queue_prompt(client, save_prompt(), sid))["prompt_id"]
    await messages_until(ws, is_end_of(pid))
    history = await get_json(client, f"/history/{pid}")
    image = history[pid]["outputs"]["2"]["images"][0]
    response = await client.get("/view", params={"filename": image["filename"],
                                                 "subfolder": image["subfolder"],
                                                 "type": image["type"]})
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(await response.read())).size == (8, 8)
    await ws.close()


async def test_object_info(client: TestClient) -> None:
    info = await get_json(client, "/object_info")
    assert info["Add"]["input"]["required"]["b"][0] == "INT"
    assert {"name", "display_name", "description", "category", "output_node",
            "python_module"} <= set(info["Show"])
    assert await get_json(client, "/api/object_info/Add") == {"Add": info["Add"]}
    assert await get_json(client, "/object_info/Nope") == {}


async def test_system_stats_features_and_listings(client: TestClient,
                                                  settings: ServerSettings) -> None:
    stats = await get_json(client, "/system_stats")
    system = stats["system"]
    for key in ("os", "python_version", "embedded_python", "comfyui_version",
                "pytorch_version", "argv", "ram_total", "ram_free"):
        assert key in system
    assert len(system["instance_id"]) == 32 and system["epoch"] == 1
    assert system["argv"] == ["latentgraph", "serve"] and stats["devices"] == []
    features = await get_json(client, "/api/features")
    assert features == {"supports_preview_metadata": True,
                        "max_upload_size": settings.max_upload_bytes}
    assert await get_json(client, "/extensions") == []
    folders = await get_json(client, "/models")
    assert "checkpoints" in folders and "loras" in folders
    ckpt = settings.models_dir / "checkpoints" / "sub"
    ckpt.mkdir(parents=True)
    (ckpt / "a.safetensors").write_bytes(b"x")
    (ckpt / "evil.ckpt").write_bytes(b"pickle")  # never offered
    assert await get_json(client, "/models/checkpoints") == ["sub/a.safetensors"]
    await get_json(client, "/models/nope", status=404)
    emb = settings.models_dir / "embeddings"
    emb.mkdir()
    (emb / "bad_hands.safetensors").write_bytes(b"x")
    assert await get_json(client, "/embeddings") == ["bad_hands"]


def safetensors_file(path: Path, metadata: dict[str, str]) -> None:
    header = json.dumps({"__metadata__": metadata}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)


async def test_view_metadata(client: TestClient, settings: ServerSettings) -> None:
    loras = settings.models_dir / "loras"
    loras.mkdir()
    safetensors_file(loras / "style.safetensors", {"ss_network_dim": "16"})
    meta = await get_json(client, "/view_metadata/loras?filename=style.safetensors")
    assert meta == {"ss_network_dim": "16"}
    await get_json(client, "/view_metadata/loras?filename=missing.safetensors", status=404)
    await get_json(client, "/view_metadata/loras", status=400)
    (loras / "junk.safetensors").write_bytes(b"\xff" * 8 + b"x")
    await get_json(client, "/view_metadata/loras?filename=junk.safetensors", status=400)


def upload_form(data: bytes, name: str = "pic.png", **fields: str) -> FormData:
    form = FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("image", data, filename=name, content_type="image/png")
    return form


async def test_upload_image_dedup_and_rename(client: TestClient, settings: ServerSettings
                                             ) -> None:
    red, blue = png_bytes(), png_bytes((0, 0, 255, 255))
    first = await client.post("/upload/image", data=upload_form(red))
    assert first.status == 200
    assert await first.json() == {"name": "pic.png", "subfolder": "", "type": "input"}
    same = await (await client.post("/api/upload/image", data=upload_form(red))).json()
    assert same["name"] == "pic.png"
    other = await (await client.post("/upload/image", data=upload_form(blue))).json()
    assert other["name"] == "pic (1).png"
    forced = await client.post("/upload/image", data=upload_form(blue, overwrite="true"))
    assert (await forced.json())["name"] == "pic.png"
    assert (settings.input_dir / "pic.png").read_bytes() == blue
    sub = await client.post("/upload/image", data=upload_form(red, subfolder="clip/space"))
    assert (await sub.json())["subfolder"] == "clip/space"
    assert (settings.input_dir / "clip" / "space" / "pic.png").is_file()
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    renamed = await client.post("/upload/image", data=upload_form(jpeg.getvalue(), "x.png"))
    assert (await renamed.json())["name"] == "x.jpg"


async def test_upload_mask_keeps_original_text_and_takes_mask_alpha(
        client: TestClient, settings: ServerSettings) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", '{"nodes": []}')
    original = io.BytesIO()
    Image.new("RGB", (6, 6), (10, 20, 30)).save(original, format="PNG", pnginfo=info)
    (settings.input_dir / "orig.png").write_bytes(original.getvalue())
    mask = png_bytes((0, 0, 0, 0), size=3)
    ref = json.dumps({"filename": "orig.png", "subfolder": "", "type": "input"})
    response = await client.post("/upload/mask", data=upload_form(mask, "masked.png",
                                                                 original_ref=ref))
    assert response.status == 200, await response.text()
    assert (await response.json())["name"] == "masked.png"
    result = Image.open(settings.input_dir / "masked.png")
    assert result.mode == "RGBA" and result.size == (6, 6)
    assert result.getpixel((2, 2)) == (10, 20, 30, 0)
    assert result.info["workflow"] == '{"nodes": []}'
    missing = json.dumps({"filename": "nope.png"})
    response = await client.post("/upload/mask", data=upload_form(mask, "m.png",
                                                                 original_ref=missing))
    assert response.status == 404
    response = await client.post("/upload/mask", data=upload_form(mask, "m.png",
                                                                 original_ref="{bad"))
    assert response.status == 400


async def test_view_channels_previews_and_errors(client: TestClient,
                                                 settings: ServerSettings) -> None:
    (settings.temp_dir / "t.png").write_bytes(png_bytes((1, 2, 3, 128)))
    rgb = await client.get("/view?filename=t.png&type=temp&channel=rgb")
    assert Image.open(io.BytesIO(await rgb.read())).mode == "RGB"
    alpha = await client.get("/view?filename=t.png [temp]&channel=a")
    assert Image.open(io.BytesIO(await alpha.read())).getpixel((0, 0))[3] == 128
    webp = await client.get("/view?filename=t.png&type=temp&preview=webp;50")
    assert webp.headers["Content-Type"] == "image/webp"
    for query, status in (("filename=missing.png", 404), ("", 400),
                          ("filename=t.png&type=models", 400),
                          ("filename=t.png&type=temp&channel=x", 400)):
        assert (await client.get(f"/view?{query}")).status == status, query


async def test_active_content_is_served_as_a_download(client: TestClient,
                                                      settings: ServerSettings) -> None:
    for name in ("x.html", "x.svg", "x.js"):
        (settings.output_dir / name).write_text("<script>alert(1)</script>")
        response = await client.get(f"/view?filename={name}")
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_preview_frames_reach_the_client(client: TestClient) -> None:
    ws, sid = await connect(client)
    await ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
    reply = await messages_until(ws, lambda m: m["type"] == "feature_flags")
    assert reply[-1]["data"]["supports_preview_metadata"] is True
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 1}},
              "2": {"class_type": "Previewer", "inputs": {"a": ["1", 0], "steps": 2}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    assert Previewer.type_name == "Previewer"
    pid = (await queue_prompt(client, prompt, sid,
                              extra_data={"preview_method": "auto"}))["prompt_id"]
    frames: list[bytes] = []
    seen = await messages_until(ws, is_end_of(pid), frames)
    progress = [m["data"] for m in seen if m["type"] == "progress"]
    assert progress == [{"value": 1, "max": 2, "prompt_id": pid, "node": "2"},
                        {"value": 2, "max": 2, "prompt_id": pid, "node": "2"}]
    assert len(frames) == 2
    kind, size = struct.unpack(">II", frames[0][:8])
    meta = json.loads(frames[0][8:8 + size])
    assert kind == 4 and meta["node_id"] == "2" and meta["prompt_id"] == pid
    assert meta["image_type"] == "image/png"
    assert frames[0][8 + size:] == png_bytes()
    await ws.close()


async def test_users_settings_and_userdata(client: TestClient) -> None:
    assert await get_json(client, "/api/users") == {"storage": "server", "migrated": True}
    assert (await client.post("/users", json={"username": "x"})).status == 400
    assert await get_json(client, "/api/settings") == {}
    assert (await client.post("/settings", json={"a": 1, "b": 2})).status == 200
    assert (await client.post("/settings/b", json=[3])).status == 200
    assert await get_json(client, "/settings") == {"a": 1, "b": [3]}
    assert await get_json(client, "/settings/a") == 1
    assert await get_json(client, "/settings/missing") is None
    path = "/api/userdata/workflows%2Fmy%20flow.json"
    saved = await client.post(path + "?full_info=true", data=b'{"nodes": []}')
    assert saved.status == 200
    assert (await saved.json())["path"] == "workflows/my flow.json"
    conflict = await client.post(path + "?overwrite=false", data=b"{}")
    assert conflict.status == 409
    fetched = await client.get(path)
    assert await fetched.read() == b'{"nodes": []}'
    assert fetched.headers["Content-Disposition"].startswith("attachment")
    assert await get_json(client, "/userdata?dir=workflows") == ["my flow.json"]
    full = await get_json(client, "/userdata?dir=workflows&recurse=true&full_info=true")
    assert full[0]["path"] == "my flow.json" and full[0]["size"] == 13
    assert await get_json(client, "/userdata?dir=workflows&split=true") == [
        ["my flow.json", "my flow.json"]]
    await get_json(client, "/userdata", status=400)
    await get_json(client, "/userdata?dir=nothing", status=404)
    v2 = await get_json(client, "/v2/userdata?path=workflows")
    assert v2[0]["name"] == "my flow.json" and v2[0]["type"] == "file"
    moved = await client.post("/userdata/workflows%2Fmy%20flow.json/move/workflows%2Fb.json")
    assert await moved.json() == "workflows/b.json"
    assert (await client.delete("/userdata/workflows%2Fb.json")).status == 204
    assert (await client.delete("/userdata/workflows%2Fb.json")).status == 404


async def test_model_folders_list_every_search_path(aiohttp_client: Any, registry: Registry,
                                                    tmp_path: Path) -> None:
    """``model_roots`` (from the composition root: extra_model_paths.yaml, the embedded demo
    model) are listed together, first root winning a name, and metadata is found in any."""
    shipped, extra = tmp_path / "shipped", tmp_path / "extra"
    for folder in (shipped, extra):
        folder.mkdir()
    safetensors_file(shipped / "demo.safetensors", {"latentgraph.model": "shapes-v1"})
    (extra / "other.safetensors").write_bytes(b"x")
    base = make_settings(tmp_path / "base")
    settings = dataclasses.replace(base, model_roots={
        "checkpoints": (base.models_dir / "checkpoints", extra, shipped)})
    client = await aiohttp_client(make_app(registry, settings))
    assert await get_json(client, "/models/checkpoints") == ["demo.safetensors",
                                                              "other.safetensors"]
    meta = await get_json(client, "/view_metadata/checkpoints?filename=demo.safetensors")
    assert meta == {"latentgraph.model": "shapes-v1"}
    assert await get_json(client, "/models/loras") == []  # not named: models_dir/loras
