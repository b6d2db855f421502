"""Hypothesis: no request gives a 500; each refusal is a structured 4xx.

Every route of the app (read from its router, at ``/x`` and ``/api/x``, every method it
declares plus some it does not) gets fuzzed path parameters, query strings and bodies: lone
surrogates, integers of hundreds of digits, deep nesting, long strings, wrong types, raw bytes
and malformed multipart uploads. One in-process server serves every example (a dedicated
event loop, stub nodes that never block).

Example counts scale with the hypothesis profile (``tests/conftest.py``): ``ci`` (what
``scripts/test.sh`` and CI run) gives 5,500 examples in all, ``dev`` (a plain ``pytest``) a
tenth of that.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from server.routes.editor import WEB_ROOT
from tests.executor.stub_nodes import Runs
from tests.server.conftest import make_app, make_settings
from tests.server.stub_pack import Hold, png_bytes, save_prompt, server_registry, show_prompt

SAFE_TYPES = ["Constant", "Add", "Sum", "Show", "Settings", "Fail", "Fingerprinted", "Never",
              "MakeList", "Total", "Switch", "Gate", "Checked", "SaveNumber", "ReadMissing"]


def examples(share: float) -> int:
    """This test's share of the profile's examples (``ci``: 1,000 per 1.0)."""
    return max(5, int(settings.default.max_examples * share))


def nest(depth: int, leaf: Any) -> Any:
    for level in range(depth):
        leaf = [leaf] if level % 2 else {"k": leaf}
    return leaf


surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])
nasty_text = st.one_of(
    st.text(max_size=12),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=4), surrogates, st.text(max_size=4)),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "😀", ",", "/", "%"]),
              st.integers(1_000, 100_000)),
    st.sampled_from(["..", "../x", "/etc/passwd", "C:\\x", "a\x00b", "x.png [output]", "%s%n",
                     "input", "output", "temp", "ComfyUI", "a/b/", "0", "-1", "1e400", "NaN"]),
)
huge_ints = st.one_of(st.integers(-2**70, 2**70),
                      st.builds(lambda d, s: s * int("9" * d), st.integers(20, 600),
                                st.sampled_from([1, -1])))
scalars = st.one_of(st.none(), st.booleans(), huge_ints,
                    st.floats(allow_nan=False, allow_infinity=False), nasty_text)
json_values = st.one_of(
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.one_of(st.text(max_size=6), nasty_text), inner, max_size=4), max_leaves=12),
    st.builds(nest, st.integers(50, 300), scalars),
)
links = st.lists(st.one_of(st.text(max_size=3), st.integers(-2, 5), st.floats(-1, 5),
                           huge_ints), min_size=0, max_size=3)
input_values = st.one_of(json_values, links, st.builds(lambda v: {"__value__": v}, json_values))
nodes = st.fixed_dictionaries(
    {"class_type": st.one_of(st.sampled_from(SAFE_TYPES), st.text(max_size=8), json_values)},
    optional={"inputs": st.one_of(st.dictionaries(st.sampled_from(
        ["value", "a", "b", "label", "n", "count", "mode", "flag", "use_a", "x", "text",
         "scale", "filename_prefix", "name"]),
        input_values, max_size=4), json_values), "_meta": json_values, "is_changed": json_values})
prompts = st.one_of(st.dictionaries(st.one_of(st.text(max_size=3), nasty_text),
                                    st.one_of(nodes, json_values), max_size=5), json_values)
ui_nodes = st.fixed_dictionaries({"id": st.one_of(st.integers(-1, 5), json_values)}, optional={
    "type": st.one_of(st.sampled_from(SAFE_TYPES), json_values), "mode": json_values,
    "inputs": json_values, "outputs": json_values, "widgets_values": json_values})
ui_workflows = st.fixed_dictionaries({"nodes": st.lists(ui_nodes, max_size=4)}, optional={
    "links": st.lists(st.one_of(st.lists(st.integers(-1, 5), max_size=7), json_values),
                      max_size=4), "definitions": json_values, "version": json_values})
extra_data = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "extra_pnginfo": st.one_of(json_values, st.fixed_dictionaries(
        {"workflow": st.one_of(json_values, st.fixed_dictionaries({"id": json_values}))})),
    "client_id": json_values}))
bodies = st.fixed_dictionaries({}, optional={
    "prompt": st.one_of(prompts, ui_workflows), "client_id": json_values,
    "extra_data": extra_data, "prompt_id": json_values, "number": json_values,
    "front": json_values, "partial_execution_targets": json_values, "strict": json_values,
    "delete": st.one_of(st.lists(st.one_of(nasty_text, huge_ints), max_size=3), json_values),
    "clear": json_values, "workflow": ui_workflows})



def settings_prompt() -> dict[str, Any]:
    return {"1": {"class_type": "Settings", "inputs": {"count": 2, "scale": 1.5, "flag": False,
                                                       "mode": "fast", "text": "hi"}},
            "2": {"class_type": "Show", "inputs": {"value": ["1", 0], "label": "x"}}}


# Valid prompts with one input replaced: the value reaches coercion and validation.
TARGETS = [(show_prompt, "1", "value"), (show_prompt, "2", "b"), (show_prompt, "3", "label"),
           (save_prompt, "2", "filename_prefix"), (save_prompt, "1", "value"),
           *[(settings_prompt, "1", name) for name in ("count", "scale", "flag", "mode", "text")]]


def mutate(target: tuple[Any, str, str], value: Any) -> dict[str, Any]:
    make, node_id, name = target
    prompt: dict[str, Any] = make()
    prompt[node_id]["inputs"][name] = value
    return prompt


nasty_scalars = st.one_of(huge_ints, nasty_text, st.floats(), st.booleans(), st.none())
valid_prompts = st.one_of(
    st.sampled_from([show_prompt, save_prompt, settings_prompt]).map(lambda make: make()),
    st.builds(mutate, st.sampled_from(TARGETS), st.one_of(nasty_scalars, input_values)))
meta = st.one_of(nasty_scalars, json_values)
workflow_ids = st.builds(lambda wid: {"extra_pnginfo": {"workflow": {"id": wid}}}, meta)
# A valid prompt with one fuzzed metadata field: it reaches the job store (ids, client,
# workflow id, priority) unless that one field is refused.
queued_bodies = st.builds(
    lambda prompt, field: {"prompt": prompt, **dict([field])}, valid_prompts, st.one_of(
        st.tuples(st.sampled_from(["client_id", "prompt_id", "number", "front",
                                   "partial_execution_targets"]), meta),
        st.tuples(st.just("extra_data"), st.one_of(workflow_ids, extra_data))))
QUERY_KEYS = ["status", "sort_by", "sort_order", "limit", "offset", "workflow_id", "max_items",
              "filename", "type", "subfolder", "channel", "preview", "dir", "path", "recurse",
              "full_info", "split", "overwrite", "strict", "timeout", "wait", "clientId",
              "token"]


def encode_text(text: str) -> str:
    """Percent-encoded UTF-8 (a lone surrogate as its raw bytes, as a client could send it)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


url_text = nasty_text.map(lambda text: text[:40])  # a URL line is at most 8 KiB (aiohttp)
queries = st.dictionaries(st.one_of(st.sampled_from(QUERY_KEYS), url_text),
                          st.one_of(url_text, huge_ints.map(str)), max_size=4)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, TestClient]]:
    base: Path = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    registry = server_registry(Runs())
    Hold.gate.set()  # a fuzzed prompt that holds never blocks the queue
    settings_ = make_settings(base, run_timeout_s=0.5)
    client = TestClient(TestServer(make_app(registry, settings_)), loop=loop)
    loop.run_until_complete(client.start_server())
    yield loop, client
    loop.run_until_complete(client.close())
    loop.close()


def send(server: tuple[Any, TestClient], method: str, url: str, data: bytes | None = None,
         headers: dict[str, str] | None = None) -> None:
    loop, client = server

    async def request() -> tuple[int, str]:
        target = client.make_url("").join(URL(url, encoded=True))
        response = await client.session.request(method, target, data=data, headers=headers)
        return response.status, await response.text()

    status, text = loop.run_until_complete(request())
    if status == 503 and not EDITOR_READY and "third-party files are missing" in text:
        return  # the editor page ('/history/..' is '/'), by design until its files are fetched
    assert status < 500, (method, url, (data or b"")[:300], text[:500])
    if status >= 400 and method != "HEAD":  # a HEAD answer has no body
        error = json.loads(text)["error"]
        assert isinstance(error["type"], str) and isinstance(error["message"], str)


def check(server: tuple[Any, TestClient], method: str, path: str, data: bytes) -> None:
    send(server, method, path, data)


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


def route_table(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, plus methods it does not."""
    routes = set()
    for resource in app.router.resources():
        info = resource.get_info()
        template = info.get("formatter") or info.get("path")
        if template is None:
            continue
        if template in ("/", "/index.html") and not EDITOR_READY:
            continue  # 503 by design until scripts/fetch_web_deps.py has run
        for route in resource:
            routes.add((route.method, str(template)))
        routes.add(("DELETE", str(template)))
        routes.add(("PUT", str(template)))
    return sorted(routes)


ROUTES: list[tuple[str, str]] = []
EDITOR_READY = (WEB_ROOT / "vendor" / "litegraph" / "litegraph.es.js").is_file()


def fill(template: str, values: list[str]) -> str:
    parts = iter(values)
    return re.sub(r"\{[^}]+\}", lambda _: encode_text(next(parts, "x")) or "x", template)


@settings(max_examples=examples(1.5))
@given(body=st.one_of(bodies, queued_bodies))
def test_prompt_bodies(server: tuple[Any, TestClient], body: dict[str, Any]) -> None:
    check(server, "POST", "/api/prompt", encode(body))


@settings(max_examples=examples(1.0))
@given(body=st.one_of(bodies, queued_bodies, json_values), path=st.sampled_from(
    ["/api/run?wait=false", "/prompt", "/queue", "/api/queue", "/history", "/api/history",
     "/interrupt", "/free", "/settings", "/api/settings/x", "/api/workflow/convert",
     "/workflow/convert", "/upload/image", "/upload/mask", "/settings/x", "/userdata/a.json",
     "/api/jobs/x/cancel", "/users", "/api/run?wait=true&timeout=0"]))
def test_other_json_routes(server: tuple[Any, TestClient], body: Any, path: str) -> None:
    check(server, "POST", path, encode(body))


@settings(max_examples=examples(1.3))
@given(data=st.data(), query=queries, params=st.lists(url_text, min_size=2, max_size=2),
       prefix=st.sampled_from(["", "/api"]),
       body=st.one_of(st.none(), st.binary(max_size=64), bodies.map(encode),
                      json_values.map(encode)))
def test_every_route(server: tuple[Any, TestClient], data: st.DataObject,
                     query: dict[str, str], params: list[str], prefix: str,
                     body: bytes | None) -> None:
    if not ROUTES:
        ROUTES.extend(route_table(server[1].server.app))
    method, template = data.draw(st.sampled_from(ROUTES))
    if template.startswith(("/api/", "/static/")) or template in ("/", "/index.html"):
        prefix = ""
    path = prefix + fill(template, params)
    if "/run" in path and "wait" not in query:
        query = {**query, "wait": "false"}
    pairs = "&".join(f"{encode_text(k)}={encode_text(str(v))}" for k, v in query.items())
    send(server, method, f"{path}?{pairs}" if pairs else path,
         None if method in ("GET", "HEAD") else body)


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "fuzzboundary"
    chunks = []
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n"
                      .encode("utf-8", "surrogatepass") + content + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), boundary


field_values = st.one_of(nasty_text, json_values.map(json.dumps),
                         st.sampled_from(["input", "output", "temp", "true", "1", ""]))
upload_parts = st.lists(st.one_of(
    st.tuples(st.sampled_from(["type", "subfolder", "overwrite", "original_ref"]),
              st.none(), field_values.map(lambda v: v.encode("utf-8", "surrogatepass"))),
    st.tuples(st.just("image"), st.one_of(st.none(), nasty_text),
              st.one_of(st.just(png_bytes()), st.binary(max_size=200),
                        st.just(b"<svg onload=alert(1)>"))),
    st.tuples(nasty_text, st.none(), st.binary(max_size=50)),
), max_size=5)


@pytest.mark.filterwarnings("ignore::aiohttp.BadContentDispositionHeader")
@settings(max_examples=examples(0.6))
@given(parts=upload_parts, path=st.sampled_from(
    ["/upload/image", "/api/upload/image", "/upload/mask", "/api/upload/mask"]),
    truncate=st.booleans())
def test_uploads(server: tuple[Any, TestClient], parts: list[tuple[str, str | None, bytes]],
                 path: str, truncate: bool) -> None:
    body, boundary = multipart(parts)
    if truncate:
        body = body[: len(body) // 2]
    send(server, "POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


@settings(max_examples=examples(0.3))
@given(workflow=ui_workflows)
def test_ui_workflows(server: tuple[Any, TestClient], workflow: dict[str, Any]) -> None:
    check(server, "POST", "/api/workflow/convert", encode(workflow))
    check(server, "POST", "/prompt", encode({"prompt": workflow}))


@settings(max_examples=examples(0.4))
@given(raw=st.one_of(st.binary(max_size=200), st.sampled_from(
    [b"[" * 5000, b'{"a":' * 3000, b'"\xed\xa0\x80"', b'{"prompt_id": "\\udfff"}',
     b"9" * 5000, b"1e999999", b"-", b"\xff\xfe"])), path=st.sampled_from(
    ["/prompt", "/api/run?wait=false", "/queue", "/history", "/interrupt", "/upload/image",
     "/settings", "/userdata/a.json", "/api/workflow/convert", "/free"]))
def test_raw_bytes(server: tuple[Any, TestClient], raw: bytes, path: str) -> None:
    check(server, "POST", path, raw)


@settings(max_examples=examples(0.4))
@given(query=queries, path=st.sampled_from(
    ["/api/jobs", "/history", "/view", "/userdata", "/v2/userdata", "/view_metadata/loras",
     "/api/jobs/x", "/object_info/x", "/models/x", "/api/view", "/api/history/x",
     "/queue", "/system_stats", "/object_info", "/extensions", "/embeddings"]))
def test_query_strings(server: tuple[Any, TestClient], query: dict[str, str],
                       path: str) -> None:
    pairs = "&".join(f"{encode_text(k)}={encode_text(str(v))}" for k, v in query.items())
    send(server, "GET", f"{path}?{pairs}")


def test_the_route_table_covers_the_app(server: tuple[Any, TestClient]) -> None:
    routes = route_table(server[1].server.app)
    templates = {template for _, template in routes}
    for expected in ("/prompt", "/api/prompt", "/userdata/{file}", "/upload/image",
                     "/api/jobs/{job_id}", "/userdata/{file}/move/{dest}", "/ws"):
        assert expected in templates, expected
    assert ("DELETE", "/api/userdata/{file}") in routes and len(routes) > 100
