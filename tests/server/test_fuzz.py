"""Hypothesis: malformed prompts and bodies never give a 500; each gets a structured 4xx.

CI profile: derandomised, no deadline. One in-process server for all examples (a dedicated
event loop), so the ~2,600 requests stay well under a minute on a slow machine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import make_app, make_settings
from tests.server.stub_pack import server_registry

CI = settings(derandomize=True, deadline=None, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck))
SAFE_TYPES = ["Constant", "Add", "Sum", "Show", "Settings", "Fail", "Fingerprinted", "Never",
              "MakeList", "Total", "Switch", "Gate", "Checked", "SaveNumber"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=6), inner, max_size=4), max_leaves=12)
links = st.lists(st.one_of(st.text(max_size=3), st.integers(-2, 5), st.floats(-1, 5)),
                 min_size=0, max_size=3)
input_values = st.one_of(json_values, links, st.builds(lambda v: {"__value__": v}, json_values))
nodes = st.fixed_dictionaries(
    {"class_type": st.one_of(st.sampled_from(SAFE_TYPES), st.text(max_size=8), json_values)},
    optional={"inputs": st.one_of(st.dictionaries(st.sampled_from(
        ["value", "a", "b", "label", "n", "count", "mode", "flag", "use_a", "x"]),
        input_values, max_size=4), json_values), "_meta": json_values, "is_changed": json_values})
prompts = st.one_of(st.dictionaries(st.text(max_size=3), st.one_of(nodes, json_values),
                                    max_size=5), json_values)
ui_nodes = st.fixed_dictionaries({"id": st.one_of(st.integers(-1, 5), json_values)}, optional={
    "type": st.one_of(st.sampled_from(SAFE_TYPES), json_values), "mode": json_values,
    "inputs": json_values, "outputs": json_values, "widgets_values": json_values})
ui_workflows = st.fixed_dictionaries({"nodes": st.lists(ui_nodes, max_size=4)}, optional={
    "links": st.lists(st.one_of(st.lists(st.integers(-1, 5), max_size=7), json_values),
                      max_size=4), "definitions": json_values, "version": json_values})
bodies = st.fixed_dictionaries({}, optional={
    "prompt": st.one_of(prompts, ui_workflows), "client_id": json_values,
    "extra_data": json_values, "prompt_id": json_values, "number": json_values,
    "front": json_values, "partial_execution_targets": json_values, "strict": json_values})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, TestClient]]:
    base: Path = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    client = TestClient(TestServer(make_app(server_registry(), make_settings(base))), loop=loop)
    loop.run_until_complete(client.start_server())
    yield loop, client
    loop.run_until_complete(client.close())
    loop.close()


def check(server: tuple[Any, TestClient], method: str, path: str, data: bytes) -> None:
    loop, client = server

    async def send() -> tuple[int, str]:
        response = await client.request(method, path, data=data)
        return response.status, await response.text()

    status, text = loop.run_until_complete(send())
    assert status < 500, (path, data[:300], text[:500])
    if status >= 400:
        error = json.loads(text)["error"]
        assert isinstance(error["type"], str) and isinstance(error["message"], str)


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


@settings(CI, max_examples=1000)
@given(body=bodies)
def test_prompt_bodies(server: tuple[Any, TestClient], body: dict[str, Any]) -> None:
    check(server, "POST", "/api/prompt", encode(body))


@settings(CI, max_examples=400)
@given(body=st.one_of(bodies, json_values), path=st.sampled_from(
    ["/api/run?wait=false", "/queue", "/history", "/interrupt", "/free", "/settings",
     "/api/workflow/convert", "/upload/image", "/upload/mask", "/settings/x",
     "/userdata/a.json"]))
def test_other_json_routes(server: tuple[Any, TestClient], body: Any, path: str) -> None:
    check(server, "POST", path, encode(body))


@settings(CI, max_examples=400)
@given(workflow=ui_workflows)
def test_ui_workflows(server: tuple[Any, TestClient], workflow: dict[str, Any]) -> None:
    check(server, "POST", "/api/workflow/convert", encode(workflow))
    check(server, "POST", "/prompt", encode({"prompt": workflow}))


@settings(CI, max_examples=400)
@given(raw=st.binary(max_size=200), path=st.sampled_from(
    ["/prompt", "/api/run?wait=false", "/queue", "/history", "/interrupt", "/upload/image"]))
def test_raw_bytes(server: tuple[Any, TestClient], raw: bytes, path: str) -> None:
    check(server, "POST", path, raw)


@settings(CI, max_examples=400)
@given(query=st.dictionaries(st.sampled_from(
    ["status", "sort_by", "sort_order", "limit", "offset", "workflow_id", "max_items",
     "filename", "type", "subfolder", "channel", "preview", "dir", "path", "recurse"]),
    st.text(max_size=10), max_size=4), path=st.sampled_from(
    ["/api/jobs", "/history", "/view", "/userdata", "/v2/userdata", "/view_metadata/loras",
     "/api/jobs/x", "/object_info/x", "/models/x"]))
def test_query_strings(server: tuple[Any, TestClient], query: dict[str, str],
                       path: str) -> None:
    loop, client = server

    async def send() -> tuple[int, str]:
        response = await client.get(path, params=query)
        return response.status, await response.text()

    status, text = loop.run_until_complete(send())
    assert status < 500, (path, query, text[:500])
