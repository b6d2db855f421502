"""POST/GET /prompt, /api/run and /api/workflow/convert."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.state import SETTINGS
from tests.server.conftest import connect, is_end_of, messages_until, queue_prompt
from tests.server.stub_pack import Hold, hold_prompt, show_prompt

pytestmark = pytest.mark.asyncio

UI_WORKFLOW: dict[str, Any] = {
    "id": "wf-1", "last_node_id": 2, "last_link_id": 1, "version": 0.4,
    "nodes": [
        {"id": 1, "type": "Constant", "mode": 0, "inputs": [],
         "outputs": [{"name": "value", "type": "NUMBER", "links": [1]}], "widgets_values": [4.5]},
        {"id": 2, "type": "Show", "mode": 0, "inputs": [{"name": "value", "type": "NUMBER",
                                                          "link": 1}],
         "outputs": [], "widgets_values": ["lbl"]},
    ],
    "links": [[1, 1, 0, 2, 0, "NUMBER"]],
}


def two_outputs(bad_b: Any) -> dict[str, Any]:
    prompt = show_prompt()
    prompt["4"] = {"class_type": "Add", "inputs": {"a": ["1", 0], "b": bad_b}}
    prompt["5"] = {"class_type": "Show", "inputs": {"value": ["4", 0]}}
    return prompt


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_post_prompt_answers_like_comfyui(client: TestClient, prefix: str) -> None:
    response = await client.post(f"{prefix}/prompt", json={"prompt": show_prompt()})
    body = await response.json()
    assert response.status == 200
    assert set(body) == {"prompt_id", "number", "node_errors"}
    assert body["node_errors"] == {} and isinstance(body["number"], int)
    status = await (await client.get(f"{prefix}/prompt")).json()
    assert set(status) == {"exec_info"}


async def test_missing_prompt_is_400_no_prompt(client: TestClient) -> None:
    response = await client.post("/prompt", json={"client_id": "x"})
    assert response.status == 400
    body = await response.json()
    assert body["error"]["type"] == "no_prompt"
    assert body["error"]["message"] == "No prompt provided"
    assert body["node_errors"] == {}


async def test_invalid_outputs_are_400_with_node_errors(client: TestClient) -> None:
    prompt = show_prompt(b="many")  # type: ignore[arg-type]
    response = await client.post("/prompt", json={"prompt": prompt})
    body = await response.json()
    assert response.status == 400
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["node_errors"]["2"]["errors"][0]["type"] == "invalid_input_type"
    assert body["node_errors"]["2"]["class_type"] == "Add"


async def test_some_valid_outputs_run_and_report_the_rest(client: TestClient) -> None:
    response = await client.post("/prompt", json={"prompt": two_outputs("bad")})
    body = await response.json()
    assert response.status == 200
    assert set(body["node_errors"]) == {"4"}
    strict = await client.post("/prompt?strict=true", json={"prompt": two_outputs("bad")})
    assert strict.status == 400
    flag = await client.post("/prompt", json={"prompt": two_outputs("bad"), "strict": True})
    assert flag.status == 400


async def test_json_is_parsed_whatever_the_content_type(client: TestClient) -> None:
    import json

    text = json.dumps({"prompt": show_prompt()})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = await client.post("/prompt", data=text,
                                     headers={"Content-Type": content_type})
        assert response.status == 200, await response.text()
    broken = await client.post("/prompt", data="{not json")
    assert broken.status == 400
    assert (await broken.json())["error"]["type"] == "invalid_json"


async def test_ui_workflow_is_accepted_and_converted(client: TestClient) -> None:
    ws, sid = await connect(client)
    for body in ({"prompt": UI_WORKFLOW, "client_id": sid}, {**UI_WORKFLOW, "client_id": sid}):
        response = await client.post("/prompt", json=body)
        assert response.status == 200, await response.text()
        queued = await response.json()
        await messages_until(ws, is_end_of(queued["prompt_id"]))
        job = await (await client.get(f"/api/jobs/{queued['prompt_id']}")).json()
        assert job["status"] == "completed"
        assert job["outputs"]["2"] == {"numbers": [4.5], "labels": ["lbl"]}
        assert job["workflow_id"] == "wf-1"
        assert job["workflow"]["extra_data"]["extra_pnginfo"]["workflow"]["id"] == "wf-1"
    await ws.close()


async def test_partial_execution_targets_run_only_those(client: TestClient) -> None:
    ws, sid = await connect(client)
    prompt = two_outputs(5)
    queued = await queue_prompt(client, prompt, sid, partial_execution_targets=["5"])
    await messages_until(ws, is_end_of(queued["prompt_id"]))
    job = await (await client.get(f"/api/jobs/{queued['prompt_id']}")).json()
    assert set(job["outputs"]) == {"5"}
    assert job["outputs_to_execute"] == ["5"]
    missing = await client.post("/prompt", json={"prompt": prompt,
                                                 "partial_execution_targets": ["99"]})
    assert missing.status == 400
    await ws.close()


async def test_client_prompt_id_never_overwrites_a_job(client: TestClient) -> None:
    ws, sid = await connect(client)
    first = await queue_prompt(client, show_prompt(), sid, prompt_id="mine")
    assert first["prompt_id"] == "mine"
    await messages_until(ws, is_end_of("mine"))
    again = await client.post("/prompt", json={"prompt": show_prompt(9), "prompt_id": "mine"})
    assert again.status == 400
    assert (await again.json())["error"]["type"] == "duplicate_prompt_id"
    entry = (await (await client.get("/history/mine")).json())["mine"]
    assert entry["outputs"]["3"]["numbers"] == [2.0]
    await ws.close()


async def test_secrets_and_client_ids_are_never_stored_or_shown(client: TestClient) -> None:
    ws, sid = await connect(client)
    extra = {"auth_token_comfy_org": "SECRET-1", "api_key_comfy_org": "SECRET-2",
             "my_api_key": "SECRET-3", "preview_method": "auto"}
    queued = await queue_prompt(client, show_prompt(), sid, extra_data=extra)
    await messages_until(ws, is_end_of(queued["prompt_id"]))
    pid = queued["prompt_id"]
    for path in ("/queue", "/history", f"/history/{pid}", "/api/jobs", f"/api/jobs/{pid}"):
        text = await (await client.get(path)).text()
        assert "SECRET" not in text and sid not in text, path
    job = await (await client.get(f"/api/jobs/{pid}")).json()
    assert job["workflow"]["extra_data"]["preview_method"] == "auto"
    db_path = client.server.app[SETTINGS].db_path  # nor the raw database files
    files = [db_path, db_path.with_name("jobs.db-wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    assert pid.encode() in raw
    assert b"SECRET" not in raw and sid.encode() in raw  # the client id is kept, never shown
    await ws.close()


async def test_run_waits_for_outputs(client: TestClient) -> None:
    response = await client.post("/api/run", json={"prompt": show_prompt(4)})
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "completed"
    assert body["outputs"]["3"] == {"numbers": [5.0], "labels": [""]}
    assert set(body["reasons"]) == {"1", "2", "3"}
    assert set(body["timings"]) == {"1", "2", "3"}


async def test_run_times_out_with_202_and_the_job_goes_on(client: TestClient) -> None:
    response = await client.post("/api/run?timeout=0", json={"prompt": hold_prompt(1)})
    body = await response.json()
    assert response.status == 202
    assert body["status"] in ("pending", "in_progress")
    Hold.gate.set()
    done = await client.post("/api/run", json={"prompt": show_prompt(11)})
    assert (await done.json())["status"] == "completed"
    job = await (await client.get(f"/api/jobs/{body['prompt_id']}")).json()
    assert job["status"] == "completed"
    bad = await client.post("/api/run?timeout=-1", json={"prompt": show_prompt()})
    assert bad.status == 400


async def test_run_survives_a_client_disconnect(client: TestClient) -> None:
    """Defined outcome: the job is not cancelled; it finishes and lands in the history."""
    pid = "run-disconnect"
    request = asyncio.ensure_future(client.post(
        "/api/run", json={"prompt": hold_prompt(2), "prompt_id": pid}))
    await asyncio.to_thread(Hold.entered.acquire, timeout=20)
    request.cancel()  # the client goes away mid-wait
    await asyncio.gather(request, return_exceptions=True)
    Hold.gate.set()
    waited = await client.post("/api/run", json={"prompt": show_prompt(12)})
    assert (await waited.json())["status"] == "completed"
    job = await (await client.get(f"/api/jobs/{pid}")).json()
    assert job["status"] == "completed"


async def test_workflow_convert(client: TestClient) -> None:
    for body in (UI_WORKFLOW, {"workflow": UI_WORKFLOW}):
        response = await client.post("/api/workflow/convert", json=body)
        assert response.status == 200
        prompt = (await response.json())["prompt"]
        assert prompt["2"]["inputs"] == {"label": "lbl", "value": ["1", 0]}
    unknown = {**UI_WORKFLOW, "nodes": [{**UI_WORKFLOW["nodes"][0], "type": "Nope"}]}
    response = await client.post("/api/workflow/convert", json=unknown)
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_workflow"
    api = await client.post("/api/workflow/convert", json=show_prompt())
    assert api.status == 400
