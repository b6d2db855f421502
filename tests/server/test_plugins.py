"""The server with node packs loaded: /object_info lists their nodes, /api/plugins says how
each pack loaded, pack routes are served behind our token and origin checks, pack messages
reach the websocket, and a pack node that fails or loops never stops the queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from latentgraph.app import build_engine, connect_plugins
from nodes.plugins.host import uninstall
from server.app import create_app
from tests.plugins.support import PluginEnv, load_env
from tests.server.conftest import (
    ClientFactory,
    is_end_of,
    make_settings,
    messages_until,
    next_json,
)

pytestmark = pytest.mark.asyncio
TOKEN = "plugin-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PACKS = ("RoutesPack", "HalfBrokenPack", "SyntaxErrorPack", "RunFailPack", "ListPack",
         "LoopPack", "MissingModulePack")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[PluginEnv]:
    yield load_env(tmp_path, PACKS)
    uninstall()


@pytest_asyncio.fixture
async def client(aiohttp_client: ClientFactory, env: PluginEnv, tmp_path: Path) -> TestClient:
    settings = make_settings(tmp_path, token=TOKEN)
    engine = build_engine(env.registry, env.engine.folders)  # type: ignore[arg-type]
    app = create_app(engine, env.registry, settings)
    connect_plugins(app, env.registry)
    return await aiohttp_client(app, headers=AUTH)


async def get(client: TestClient, path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_object_info_and_the_pack_report(client: TestClient, tmp_path: Path) -> None:
    info = await get(client, "/api/object_info")
    assert {"GoodNode", "SumList", "Explodes", "LoopUntilInterrupted"} <= set(info)
    assert "BadInputs" not in info and info["SumList"]["python_module"] == "custom_nodes.ListPack"
    packs = {p["name"]: p for p in (await get(client, "/api/plugins"))["packs"]}
    assert packs["ListPack"]["status"] == "loaded" and packs["ListPack"]["seconds"] > 0
    assert packs["ListPack"]["apis"] == ["comfyui-v1"]
    assert packs["HalfBrokenPack"]["left_out"]["BadInputs"].endswith("cannot list my inputs")
    syntax = packs["SyntaxErrorPack"]
    assert syntax["status"] == "failed" and syntax["error"]["exception_type"] == "SyntaxError"
    missing = packs["MissingModulePack"]["error"]
    assert missing["missing_module"] == "cv2" and missing["pip_package"] == "opencv-python"
    assert packs["RoutesPack"]["routes"] == 2
    text = str(packs)
    assert str(tmp_path) not in text  # paths shown relative, never the server's own


async def test_pack_routes_are_served_behind_auth_and_origin_checks(
        client: TestClient) -> None:
    for path in ("/routes_pack/hello?name=x", "/api/routes_pack/hello?name=x"):
        assert await get(client, path) == {"hello": "x"}
    anonymous = await client.session.get(client.make_url("/routes_pack/hello"),
                                         headers={"Authorization": "Bearer wrong-token-xxxx"})
    assert anonymous.status == 401
    foreign = await client.post("/routes_pack/echo", json={"a": 1},
                                headers={"Origin": "http://evil.example"})
    assert foreign.status == 403


async def test_pack_messages_reach_the_websocket(client: TestClient) -> None:
    ws = await client.ws_connect("/ws")
    assert (await next_json(ws))["type"] == "status"
    response = await client.post("/api/routes_pack/echo", json={"hello": "there"})
    assert await response.json() == {"echo": {"hello": "there"}}
    message = await next_json(ws)
    assert message == {"type": "routes_pack.echoed", "data": {"hello": "there"}}
    await ws.close()


async def queue(client: TestClient, prompt: dict[str, Any], client_id: str) -> str:
    response = await client.post("/prompt", json={"prompt": prompt, "client_id": client_id})
    body = await response.json()
    assert response.status == 200, body
    return str(body["prompt_id"])


async def test_failing_and_looping_pack_nodes_never_stop_the_queue(client: TestClient) -> None:
    ws = await client.ws_connect("/ws")
    sid = (await next_json(ws))["data"]["sid"]
    failing = await queue(client, {"1": {"class_type": "Explodes", "inputs": {}}}, sid)
    looping = await queue(client, {"1": {"class_type": "LoopUntilInterrupted",
                                         "inputs": {"seconds": 120}}}, sid)
    fine = await queue(client, {"1": {"class_type": "MakeList", "inputs": {"count": 4}},
                                "2": {"class_type": "SumList",
                                      "inputs": {"values": ["1", 0], "offset": 0}}}, sid)
    seen = await messages_until(ws, lambda m: m["type"] == "executing" and
                                m["data"].get("node") == "1" and
                                m["data"].get("prompt_id") == looping)
    assert any(m["type"] == "execution_error" and m["data"]["prompt_id"] == failing and
               m["data"]["exception_message"] == "kaboom" for m in seen)
    await asyncio.sleep(0.2)
    assert (await client.post("/interrupt", json={"prompt_id": looping})).status == 200
    seen = await messages_until(ws, is_end_of(fine))
    assert any(m["type"] == "execution_interrupted" and m["data"]["prompt_id"] == looping
               for m in seen)
    done = [m for m in seen if m["type"] == "executed" and m["data"]["prompt_id"] == fine]
    assert done[0]["data"]["output"]["total"] == [10]
    history = await get(client, "/api/history")
    assert history[failing]["status"]["status_str"] == "error"
    assert history[fine]["status"]["status_str"] == "success"
    await ws.close()
