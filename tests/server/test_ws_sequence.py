"""The websocket message sequence of successful, cached, failing and interrupted jobs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.state import HUB, QUEUE
from tests.server.conftest import connect, is_end_of, messages_until, queue_prompt
from tests.server.stub_pack import Hold, fail_prompt, hold_prompt, show_prompt

pytestmark = pytest.mark.asyncio


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


def without_progress_state(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] != "progress_state"]


async def test_successful_job_sequence(client: TestClient) -> None:
    ws, sid = await connect(client)
    queued = await queue_prompt(client, show_prompt(), sid)
    pid = queued["prompt_id"]
    seen = await messages_until(ws, is_end_of(pid))
    main = without_progress_state(seen)
    assert types(main) == [
        "status", "status", "execution_start", "execution_cached",
        "executing", "executing", "executing", "executed",
        "execution_success", "status", "executing",
    ]
    assert main[0]["data"]["status"]["exec_info"]["queue_remaining"] == 1
    assert main[1]["data"]["status"]["exec_info"]["queue_remaining"] == 1  # running counts
    assert main[-2]["data"]["status"]["exec_info"]["queue_remaining"] == 0
    assert [m["data"]["node"] for m in main[4:7]] == ["1", "2", "3"]
    assert main[4]["data"] == {"node": "1", "display_node": "1", "prompt_id": pid}
    assert main[7]["data"]["output"] == {"numbers": [2.0], "labels": [""]}
    assert main[3]["data"]["nodes"] == []
    assert main[-1]["data"] == {"node": None, "prompt_id": pid}
    for message in main[2:9]:
        assert message["data"]["prompt_id"] == pid
    assert isinstance(main[2]["data"]["timestamp"], int)
    states = [m for m in seen if m["type"] == "progress_state"]
    assert states[-1]["data"]["nodes"]["3"]["state"] == "finished"
    await ws.close()


async def test_cached_job_sends_cached_nodes_and_executed(client: TestClient) -> None:
    ws, sid = await connect(client)
    first = await queue_prompt(client, show_prompt(), sid)
    await messages_until(ws, is_end_of(first["prompt_id"]))
    again = await queue_prompt(client, show_prompt(), sid)
    seen = without_progress_state(await messages_until(ws, is_end_of(again["prompt_id"])))
    assert types(seen) == ["status", "status", "execution_start", "execution_cached",
                           "executed", "execution_success", "status", "executing"]
    assert seen[3]["data"]["nodes"] == ["1", "2", "3"]
    assert seen[4]["data"]["node"] == "3"
    assert seen[4]["data"]["output"] == {"numbers": [2.0], "labels": [""]}
    history = await (await client.get(f"/history/{again['prompt_id']}")).json()
    assert history[again["prompt_id"]]["outputs"]["3"] == {"numbers": [2.0], "labels": [""]}
    await ws.close()


async def test_failing_job_sequence_and_history(client: TestClient) -> None:
    ws, sid = await connect(client)
    pid = (await queue_prompt(client, fail_prompt(), sid))["prompt_id"]
    seen = await messages_until(ws, is_end_of(pid))
    main = without_progress_state(seen)
    assert types(main) == ["status", "status", "execution_start", "execution_cached",
                           "executing", "executing", "execution_error", "status", "executing"]
    error = main[6]["data"]
    assert error["node_id"] == "2" and error["node_type"] == "Fail"
    assert error["exception_type"] == "RuntimeError"
    assert error["exception_message"] == "boom on 3.0"
    assert any("boom" in line for line in error["traceback"])
    assert error["executed"] == ["1"]
    assert error["current_inputs"] == {"a": ["3.0"]}
    assert [m for m in seen if m["type"] == "progress_state"][-1]["data"]["nodes"]["2"][
        "state"] == "error"
    entry = (await (await client.get(f"/history/{pid}")).json())[pid]
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["completed"] is False
    assert [m[0] for m in entry["status"]["messages"]] == [
        "execution_start", "execution_cached", "execution_error"]
    job = await (await client.get(f"/api/jobs/{pid}")).json()
    assert job["status"] == "failed"
    assert job["execution_error"]["exception_message"] == "boom on 3.0"
    assert any("boom" in line for line in job["error"]["traceback"])
    await ws.close()


async def test_interrupted_job_sequence(client: TestClient) -> None:
    ws, sid = await connect(client)
    pid = (await queue_prompt(client, hold_prompt(), sid))["prompt_id"]
    await asyncio.to_thread(Hold.entered.acquire, timeout=20)
    response = await client.post("/interrupt", json={"prompt_id": pid})
    assert response.status == 200
    seen = without_progress_state(await messages_until(ws, is_end_of(pid)))
    assert types(seen)[-4:] == ["executing", "execution_interrupted", "status", "executing"]
    interrupted = seen[-3]["data"]
    assert interrupted["node_id"] == "2" and interrupted["node_type"] == "Hold"
    assert interrupted["executed"] == ["1"]
    job = await (await client.get(f"/api/jobs/{pid}")).json()
    assert job["status"] == "cancelled"
    entry = (await (await client.get(f"/history/{pid}")).json())[pid]
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"
    await ws.close()


async def test_history_exists_before_queue_shows_empty(client: TestClient) -> None:
    """When ``status`` says the queue is empty, or ``executing {node: null}`` is sent, the
    history entry is already committed: checked in the store at the moment of sending."""
    hub, store = client.server.app[HUB], client.server.app[QUEUE].store
    seen_status: list[tuple[str, str | None]] = []
    broadcast, send = hub.broadcast, hub.send

    def state(pid: str) -> str | None:
        record = store.get(pid)
        return record.status if record else None

    def spy_broadcast(kind: str, data: dict[str, Any]) -> None:
        if kind == "status" and data["status"]["exec_info"]["queue_remaining"] == 0:
            seen_status.append(("status-empty", state(pid)))
        broadcast(kind, data)

    def spy_send(sid: str | None, kind: str, data: dict[str, Any]) -> None:
        if kind == "executing" and data.get("node") is None:
            seen_status.append(("executing-null", state(pid)))
        send(sid, kind, data)

    hub.broadcast, hub.send = spy_broadcast, spy_send  # type: ignore[method-assign]
    ws, sid = await connect(client)
    pid = (await queue_prompt(client, show_prompt(7), sid))["prompt_id"]
    seen = await messages_until(ws, is_end_of(pid))
    assert seen_status == [("status-empty", "success"), ("executing-null", "success")]
    history = await (await client.get(f"/history/{pid}")).json()
    assert pid in history
    assert (await (await client.get("/queue")).json()) == {"queue_running": [],
                                                           "queue_pending": []}
    assert [m["type"] for m in seen][-2:] == ["status", "executing"]
    await ws.close()
