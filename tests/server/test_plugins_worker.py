"""``latentgraph serve`` as it starts by default — nodes in a supervised worker process — over a
base folder with node packs: the server process lists the packs' nodes (``/object_info``) and
reports how each loaded (``/api/plugins``); the worker loads the same packs and runs their nodes
(state a pack keeps from ``INPUT_TYPES`` included) and forwards the websocket messages they send
while running; the server's copy serves the packs' routes; a failing node fails only its job,
and a looping node stops within a second of a cancel through ComfyUI's interrupt check, without
the worker being killed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from executor.process_backend import ProcessBackend
from nodes.plugins.host import uninstall
from server.state import BACKEND
from tests.plugins.support import copy_packs
from tests.server.conftest import ClientFactory, is_end_of, messages_until, next_json

pytestmark = pytest.mark.asyncio
PACKS = ("ListPack", "LoopPack", "StatePack", "RunFailPack", "SyntaxErrorPack", "RoutesPack",
         "LeakPack")
LIST_PROMPT = {"1": {"class_type": "MakeList", "inputs": {"count": 4}},
               "2": {"class_type": "SumList", "inputs": {"values": ["1", 0], "offset": 1}}}


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    copy_packs(tmp_path, PACKS)
    yield tmp_path
    uninstall()


@pytest_asyncio.fixture
async def client(aiohttp_client: ClientFactory, base: Path) -> TestClient:
    from latentgraph import cli_serve
    from latentgraph.cli import _parser

    # a cancel grace far above the 1 s asked of the loop: only a cooperative stop passes
    args = _parser().parse_args(["serve", "--base-dir", str(base), "--cancel-grace", "30"])
    app, _ = cli_serve._build_app(args, cli_serve._checked_settings(args), None)
    return await aiohttp_client(app)


async def get(client: TestClient, path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


async def queue(client: TestClient, prompt: dict[str, Any], client_id: str) -> str:
    response = await client.post("/prompt", json={"prompt": prompt, "client_id": client_id})
    body = await response.json()
    assert response.status == 200, body
    return str(body["prompt_id"])


def worker_pid(client: TestClient) -> int:
    backend = client.app[BACKEND]
    assert isinstance(backend, ProcessBackend)  # the default: nodes run in a worker
    handle = backend.supervisor.ready_worker(60.0)
    assert handle is not None and handle.pid is not None
    return handle.pid


async def test_the_server_lists_the_packs_and_the_worker_runs_them(client: TestClient) -> None:
    info = await get(client, "/api/object_info")
    assert {"MakeList", "SumList", "LoopUntilInterrupted", "StateFromInputTypes"} <= set(info)
    assert info["SumList"]["python_module"] == "custom_nodes.ListPack"
    packs = {p["name"]: p for p in (await get(client, "/api/plugins"))["packs"]}
    assert packs["ListPack"]["status"] == "loaded"
    assert packs["SyntaxErrorPack"]["status"] == "failed"
    pid = worker_pid(client)
    assert pid != os.getpid()
    ws = await client.ws_connect("/ws")
    sid = (await next_json(ws))["data"]["sid"]
    summed = await queue(client, LIST_PROMPT, sid)
    state = await queue(client, {"1": {"class_type": "StateFromInputTypes",
                                       "inputs": {"size": "large"}}}, sid)
    seen = await messages_until(ws, is_end_of(state))
    outputs = {(m["data"]["prompt_id"], m["data"]["node"]): m["data"]["output"]
               for m in seen if m["type"] == "executed"}
    assert outputs[(summed, "2")]["total"] == [11]
    assert outputs[(state, "1")] == {"value": [10]}  # the options INPUT_TYPES set, in the worker
    assert worker_pid(client) == pid
    await ws.close()


async def test_a_failing_and_a_looping_pack_node_in_the_worker(client: TestClient) -> None:
    pid = worker_pid(client)
    ws = await client.ws_connect("/ws")
    sid = (await next_json(ws))["data"]["sid"]
    failing = await queue(client, {"1": {"class_type": "Explodes", "inputs": {}}}, sid)
    looping = await queue(client, {"1": {"class_type": "LoopUntilInterrupted",
                                         "inputs": {"seconds": 120}}}, sid)
    fine = await queue(client, LIST_PROMPT, sid)
    seen = await messages_until(ws, lambda m: m["type"] == "executing" and
                                m["data"].get("node") == "1" and
                                m["data"].get("prompt_id") == looping)
    assert any(m["type"] == "execution_error" and m["data"]["prompt_id"] == failing and
               m["data"]["exception_message"] == "kaboom" for m in seen)
    started = time.monotonic()
    assert (await client.post("/interrupt", json={"prompt_id": looping})).status == 200
    await messages_until(ws, is_end_of(looping))
    assert time.monotonic() - started < 1.0  # cooperative: the grace before a kill is 30 s
    seen = await messages_until(ws, is_end_of(fine))
    done = [m for m in seen if m["type"] == "executed" and m["data"]["prompt_id"] == fine]
    assert done[0]["data"]["output"]["total"] == [11]
    history = await get(client, "/api/history")
    assert history[looping]["status"]["status_str"] == "error"  # interrupted, as ComfyUI
    assert worker_pid(client) == pid  # the worker was never killed
    await ws.close()


async def test_pack_routes_and_messages_sent_from_the_worker(client: TestClient) -> None:
    assert await get(client, "/routes_pack/hello?name=x") == {"hello": "x"}  # the server's copy
    ws = await client.ws_connect("/ws")
    sid = (await next_json(ws))["data"]["sid"]
    announced = await queue(client, {"7": {"class_type": "Announce",
                                           "inputs": {"text": "from the worker"}}}, sid)
    seen = await messages_until(ws, is_end_of(announced))
    assert {"type": "routes_pack.announced",
            "data": {"node": "7", "text": "from the worker"}} in seen
    await ws.close()


async def test_a_leaking_pack_node_in_the_worker_is_reported(
        client: TestClient) -> None:
    ws = await client.ws_connect("/ws")
    sid = (await next_json(ws))["data"]["sid"]
    jobs = []
    for run in range(4):
        jobs.append(await queue(client, {"1": {"class_type": "Leaky", "inputs": {"run": run}},
                                         "2": {"class_type": "Tidy", "inputs": {"run": run}}},
                                sid))
    await messages_until(ws, is_end_of(jobs[-1]))
    job = await get(client, f"/api/jobs/{jobs[-1]}")
    assert job["status"] == "completed", job
    assert job["notes"]["1"]["retained_bytes"] > 20 * 2**20  # measured in the worker
    packs = {p["name"]: p for p in (await get(client, "/api/plugins"))["packs"]}
    assert packs["LeakPack"]["retained_bytes"]["Leaky"] >= 3 * 20 * 2**20  # told the server
    assert "Tidy" not in packs["LeakPack"]["retained_bytes"]  # it ran, and kept nothing
    await ws.close()
