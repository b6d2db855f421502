"""Request limits and checks: body size and nesting, text that is not Unicode, values that would
crash later, file prefixes, streamed uploads, per-client progress, no server paths in errors."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image

from server.settings import ServerSettings
from server.uploads import SPOOL_DIR
from tests.server.conftest import (
    ClientFactory,
    connect,
    is_end_of,
    make_app,
    make_settings,
    messages_until,
    queue_prompt,
)
from tests.server.stub_pack import save_prompt, server_registry, show_prompt

pytestmark = pytest.mark.asyncio
JSON_ROUTES = ["/prompt", "/api/prompt", "/api/run?wait=false", "/api/workflow/convert",
               "/queue", "/history", "/settings"]


async def error_of(response: Any, status: int) -> dict[str, Any]:
    body = await response.json()
    assert response.status == status, body
    return body["error"]  # type: ignore[no-any-return]


@pytest_asyncio.fixture
async def small(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    settings = make_settings(tmp_path, max_body_bytes=4096)
    return await aiohttp_client(make_app(server_registry(), settings))


@pytest.mark.parametrize("path", [*JSON_ROUTES, "/userdata/big.json"])
async def test_bodies_over_the_limit_are_413(small: TestClient, path: str) -> None:
    body = json.dumps({"prompt": show_prompt(), "pad": "x" * 5000}).encode()
    error = await error_of(await small.post(path, data=body), 413)
    assert error["type"] == "body_too_large" and "--max-body-mb" in error["details"]

    async def chunks() -> Any:  # no Content-Length: refused while reading
        for _ in range(10):
            yield b" " * 1000

    error = await error_of(await small.post(path, data=chunks()), 413)
    assert error["extra_info"]["limit_bytes"] == 4096


@pytest.mark.parametrize("path", JSON_ROUTES)
async def test_deep_nesting_is_400_naming_the_limit(client: TestClient, path: str) -> None:
    error = await error_of(await client.post(path, data=b"[" * 65 + b"]" * 65), 400)
    assert error["type"] == "json_too_deep" and "64" in error["message"]
    error = await error_of(await client.post(path, data=b"[" * 100_000), 400)
    assert error["type"] in ("json_too_deep", "invalid_json")
    assert (await client.post(path, data=b"[" * 60 + b"]" * 60)).status < 500


@pytest.mark.parametrize(("body", "field"), [
    ({"prompt": show_prompt(), "prompt_id": "a\ud800"}, "prompt_id"),
    ({"prompt": show_prompt(), "client_id": "\udfff"}, "client_id"),
    ({"prompt": show_prompt(), "extra_data": {"extra_pnginfo": {"workflow": {"id": "\ud83d"}}}},
     "extra_data.extra_pnginfo.workflow.id"),
    ({"prompt": {"1\ud800": {"class_type": "Show", "inputs": {}}}}, "prompt.1\\ud800"),
])
async def test_lone_surrogates_are_400_naming_the_field(client: TestClient, body: dict[str, Any],
                                                        field: str) -> None:
    error = await error_of(await client.post("/prompt", data=json.dumps(body)), 400)
    assert error["type"] == "invalid_text" and error["extra_info"]["field"] == field
    assert (await client.get("/api/jobs")).status == 200


@pytest.mark.parametrize("route", ["/history", "/queue", "/api/history", "/api/queue"])
async def test_lone_surrogates_in_delete_lists_are_400(client: TestClient, route: str) -> None:
    error = await error_of(await client.post(route, data='{"delete": ["\\ud800"]}'), 400)
    assert error["extra_info"]["field"] == "delete.0"


async def test_values_that_would_crash_later_are_validation_errors(client: TestClient) -> None:
    huge = show_prompt()
    huge["1"]["inputs"]["value"] = int("9" * 400)
    response = await client.post("/prompt", data=json.dumps({"prompt": huge}))
    body = await response.json()
    assert response.status == 400
    assert body["node_errors"]["1"]["errors"][0]["type"] == "invalid_input_type"
    long_label = show_prompt()
    long_label["3"]["inputs"]["label"] = "x" * (10 * 2**20)  # 10 MB of text
    response = await client.post("/prompt", data=json.dumps({"prompt": long_label}))
    body = await response.json()
    assert response.status == 400 and len(json.dumps(body)) < 10_000
    assert body["node_errors"]["3"]["errors"][0]["type"] == "value_longer_than_max_length"


async def test_a_bad_filename_prefix_is_refused_before_anything_runs(
        client: TestClient, settings: ServerSettings) -> None:
    prompt = save_prompt()
    prompt["2"]["inputs"]["filename_prefix"] = "../outside"
    response = await client.post("/prompt", json={"prompt": prompt})
    body = await response.json()
    assert response.status == 400
    assert body["node_errors"]["2"]["errors"][0]["type"] == "invalid_filename_prefix"
    assert "'..'" in body["node_errors"]["2"]["errors"][0]["details"]
    assert list(settings.output_dir.iterdir()) == []


def png(size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_uploads_are_spooled_to_disk_and_cleaned_up(client: TestClient,
                                                          settings: ServerSettings) -> None:
    data = FormData()
    data.add_field("image", png(600), filename="big.png", content_type="image/png")
    data.add_field("subfolder", "up")
    response = await client.post("/upload/image", data=data)
    assert response.status == 200, await response.text()
    stored = settings.input_dir / "up" / "big.png"
    assert stored.read_bytes() == png(600)
    assert list((settings.base_dir / SPOOL_DIR).iterdir()) == []
    bad = FormData()
    bad.add_field("image", b"not an image" * 1000, filename="x.png", content_type="image/png")
    assert (await client.post("/upload/image", data=bad)).status == 400
    assert list((settings.base_dir / SPOOL_DIR).iterdir()) == []


async def test_upload_limit_counts_the_whole_request(aiohttp_client: ClientFactory,
                                                     tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_upload_bytes=200_000)
    client = await aiohttp_client(make_app(server_registry(), settings))

    async def stream() -> Any:
        yield b"--b\r\nContent-Disposition: form-data\r\n\r\n"  # no name: ignored, counted
        for _ in range(100):
            yield b"y" * 10_000
        yield b"\r\n--b--\r\n"

    response = await client.post("/upload/image", data=stream(),
                                 headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status == 413
    long_field = FormData()
    long_field.add_field("image", png(8), filename="x.png", content_type="image/png")
    long_field.add_field("subfolder", "z" * 100_000)
    error = await error_of(await client.post("/upload/image", data=long_field), 400)
    assert "too long" in error["message"]


async def test_progress_state_goes_to_the_jobs_client_only(client: TestClient) -> None:
    mine, mine_sid = await connect(client)
    other, _ = await connect(client)
    pid = (await queue_prompt(client, show_prompt(), mine_sid))["prompt_id"]
    seen = await messages_until(mine, is_end_of(pid))
    assert any(m["type"] == "progress_state" for m in seen)
    anonymous = (await queue_prompt(client, show_prompt(2.0)))["prompt_id"]
    others = await messages_until(other, lambda m: m["type"] == "progress_state" and
                                  m["data"]["prompt_id"] == anonymous)
    assert all(m["data"].get("prompt_id") != pid for m in others)  # nothing of mine
    assert {m["type"] for m in others} <= {"status", "progress_state", "progress"}
    await mine.close()
    await other.close()


async def test_errors_show_no_absolute_server_paths(client: TestClient,
                                                    settings: ServerSettings) -> None:
    ws, sid = await connect(client)
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 1}},
              "2": {"class_type": "ReadMissing", "inputs": {"value": ["1", 0]}}}
    pid = (await queue_prompt(client, prompt, sid))["prompt_id"]
    seen = await messages_until(ws, is_end_of(pid))
    (error,) = [m["data"] for m in seen if m["type"] == "execution_error"]
    assert "'input/gone.png'" in error["exception_message"]
    base = str(settings.base_dir)
    assert base not in json.dumps(error)
    assert any('File "tests/server/stub_pack.py"' in line for line in error["traceback"])
    assert all(str(Path(__file__).parents[2]) not in line for line in error["traceback"])
    job = await (await client.get(f"/api/jobs/{pid}")).json()
    assert base not in json.dumps(job) and job["status"] == "failed"
    refused = await client.get("/view", params={"filename": "x.png", "subfolder": "/etc"})
    assert refused.status == 403 and base not in await refused.text()
    await ws.close()
    await asyncio.sleep(0)


async def test_a_flood_of_tiny_values_is_refused_before_parsing(client: TestClient) -> None:
    """Python's parser holds the GIL: 16 MB of ``0,`` would stall the loop for ~0.6 s."""
    flood = b'{"prompt": {}, "extra_data": [' + b"0," * 1_100_000 + b"0]}"
    error = await error_of(await client.post("/prompt", data=flood), 413)
    assert error["type"] == "json_too_many_values" and "1000000" in error["message"]
    text = json.dumps({"prompt": show_prompt(), "extra_data": {"notes": "a, b, c, " * 500_000}})
    assert (await client.post("/prompt", data=text)).status == 200  # commas inside strings
