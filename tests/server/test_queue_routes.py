"""/queue, /interrupt, /free, /history and /jobs, with jobs held pending behind a Hold node."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from executor.engine import Engine
from server.state import BACKEND
from tests.server.conftest import connect, is_end_of, messages_until, queue_prompt
from tests.server.stub_pack import Hold, hold_prompt, show_prompt

pytestmark = pytest.mark.asyncio


async def get(client: TestClient, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    return await response.json()


async def post(client: TestClient, path: str, body: Any, status: int = 200) -> None:
    response = await client.post(path, json=body)
    assert response.status == status, await response.text()


async def hold_worker(client: TestClient, sid: str) -> str:
    """Queue a Hold job and wait until it runs; the worker is busy until Hold.gate is set."""
    pid = (await queue_prompt(client, hold_prompt(), sid))["prompt_id"]
    await asyncio.to_thread(Hold.entered.acquire, timeout=20)
    return pid


async def test_queue_items_are_five_element_arrays_in_run_order(client: TestClient) -> None:
    ws, sid = await connect(client)
    running = await hold_worker(client, sid)
    later = await queue_prompt(client, show_prompt(1), sid)
    first = await queue_prompt(client, show_prompt(2), sid, front=True)
    queue = await get(client, "/api/queue")
    assert [item[1] for item in queue["queue_running"]] == [running]
    assert [item[1] for item in queue["queue_pending"]] == [first["prompt_id"],
                                                            later["prompt_id"]]
    item = queue["queue_pending"][1]
    assert len(item) == 5
    assert item[0] == later["number"] and item[2] == show_prompt(1) and item[4] == ["3"]
    assert "client_id" not in item[3] and "create_time" in item[3]
    assert (await get(client, "/prompt"))["exec_info"]["queue_remaining"] == 3
    Hold.gate.set()
    await messages_until(ws, is_end_of(later["prompt_id"]))
    await ws.close()


async def test_queue_delete_and_clear_touch_only_pending(client: TestClient) -> None:
    ws, sid = await connect(client)
    running = await hold_worker(client, sid)
    ids = [(await queue_prompt(client, show_prompt(i), sid))["prompt_id"] for i in range(3)]
    await post(client, "/queue", {"delete": [ids[0], running]})
    queue = await get(client, "/queue")
    assert [i[1] for i in queue["queue_pending"]] == ids[1:]
    assert [i[1] for i in queue["queue_running"]] == [running]
    await post(client, "/api/queue", {"clear": True})
    queue = await get(client, "/queue")
    assert queue["queue_pending"] == [] and len(queue["queue_running"]) == 1
    assert (await get(client, f"/api/jobs/{ids[0]}"))["status"] == "cancelled"
    assert await get(client, f"/history/{ids[0]}") == {}
    Hold.gate.set()
    await messages_until(ws, is_end_of(running))
    assert (await get(client, f"/api/jobs/{running}"))["status"] == "completed"
    await ws.close()


async def test_interrupt_by_id_never_touches_another_job(client: TestClient) -> None:
    ws, sid = await connect(client)
    running = await hold_worker(client, sid)
    pending = (await queue_prompt(client, show_prompt(5), sid))["prompt_id"]
    await post(client, "/interrupt", {"prompt_id": pending})  # not the running one: no-op
    await post(client, "/interrupt", {"prompt_id": "nope"})
    Hold.gate.set()
    await messages_until(ws, is_end_of(pending))
    assert (await get(client, f"/api/jobs/{running}"))["status"] == "completed"
    assert (await get(client, f"/api/jobs/{pending}"))["status"] == "completed"
    await ws.close()


async def test_interrupt_without_id_stops_only_the_running_job(client: TestClient) -> None:
    ws, sid = await connect(client)
    running = await hold_worker(client, sid)
    pending = (await queue_prompt(client, show_prompt(6), sid))["prompt_id"]
    response = await client.post("/api/interrupt")  # no body at all
    assert response.status == 200
    await messages_until(ws, is_end_of(pending))
    assert (await get(client, f"/api/jobs/{running}"))["status"] == "cancelled"
    assert (await get(client, f"/api/jobs/{pending}"))["status"] == "completed"
    await post(client, "/interrupt", {})  # idle: nothing to interrupt, nothing latched
    after = await queue_prompt(client, show_prompt(7), sid)
    await messages_until(ws, is_end_of(after["prompt_id"]))
    assert (await get(client, f"/api/jobs/{after['prompt_id']}"))["status"] == "completed"
    await ws.close()


async def test_cancel_any_job_by_id(client: TestClient) -> None:
    ws, sid = await connect(client)
    running = await hold_worker(client, sid)
    ids = [(await queue_prompt(client, show_prompt(i), sid))["prompt_id"] for i in range(3)]
    response = await client.post(f"/api/jobs/{ids[1]}/cancel")
    assert (await response.json())["status"] == "cancelled"
    response = await client.post(f"/api/jobs/{running}/cancel")
    assert (await response.json())["status"] == "cancelling"
    await messages_until(ws, is_end_of(ids[2]))
    statuses = [(await get(client, f"/api/jobs/{p}"))["status"] for p in [running, *ids]]
    assert statuses == ["cancelled", "completed", "cancelled", "completed"]
    finished = await client.post(f"/api/jobs/{ids[0]}/cancel")
    assert finished.status == 409
    unknown = await client.post("/api/jobs/nope/cancel")
    assert unknown.status == 404
    await ws.close()


async def test_free_clears_the_cache(client: TestClient) -> None:
    ws, sid = await connect(client)
    first = await queue_prompt(client, show_prompt(3), sid)
    await messages_until(ws, is_end_of(first["prompt_id"]))
    engine = client.server.app[BACKEND]
    assert isinstance(engine, Engine)
    assert len(engine.cache) > 0
    await post(client, "/free", {"unload_models": True, "free_memory": True})
    assert len(engine.cache) == 0
    await post(client, "/api/free", {})
    again = await queue_prompt(client, show_prompt(3), sid)
    await messages_until(ws, is_end_of(again["prompt_id"]))
    job = await get(client, f"/api/jobs/{again['prompt_id']}")
    assert job["cached"] == [] and job["reasons"]["1"] == "evicted"
    await ws.close()


async def run_jobs(client: TestClient, count: int) -> list[str]:
    ws, sid = await connect(client)
    ids = []
    for i in range(count):
        pid = (await queue_prompt(client, show_prompt(100 + i), sid))["prompt_id"]
        await messages_until(ws, is_end_of(pid))
        ids.append(pid)
    await ws.close()
    return ids


async def test_history_listing_pagination_and_deletion(client: TestClient) -> None:
    ids = await run_jobs(client, 5)
    everything = await get(client, "/history")
    assert list(everything) == ids
    entry = everything[ids[0]]
    assert set(entry) == {"prompt", "outputs", "status", "meta"}
    assert entry["prompt"][1] == ids[0] and len(entry["prompt"]) == 5
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"]
    assert entry["meta"]["3"] == {"node_id": "3", "display_node": "3", "parent_node": None,
                                  "real_node_id": "3"}
    assert list(await get(client, "/history?max_items=2")) == ids[-2:]
    assert list(await get(client, "/api/history?offset=1&max_items=2")) == ids[1:3]
    assert list(await get(client, "/history?offset=4")) == ids[4:]
    assert await get(client, "/history/unknown") == {}
    await get(client, "/history?max_items=x", status=400)
    await post(client, "/history", {"delete": [ids[0]]})
    assert list(await get(client, "/history")) == ids[1:]
    await post(client, "/api/history", {"clear": True})
    assert await get(client, "/history") == {}
    await get(client, f"/api/jobs/{ids[1]}", status=404)


async def test_history_is_empty_until_the_job_finishes(client: TestClient) -> None:
    ws, sid = await connect(client)
    running = await hold_worker(client, sid)
    assert await get(client, f"/history/{running}") == {}
    assert (await get(client, f"/api/jobs/{running}"))["status"] == "in_progress"
    Hold.gate.set()
    await messages_until(ws, is_end_of(running))
    assert running in await get(client, f"/history/{running}")
    await ws.close()


async def test_jobs_filters_sort_and_pagination(client: TestClient) -> None:
    done = await run_jobs(client, 3)
    ws, sid = await connect(client)
    running = await hold_worker(client, sid)
    pending = (await queue_prompt(client, show_prompt(9), sid))["prompt_id"]
    listing = await get(client, "/api/jobs")
    assert [j["id"] for j in listing["jobs"]] == [pending, running, *done[::-1]]
    assert listing["pagination"] == {"offset": 0, "limit": None, "total": 5, "has_more": False}
    active = await get(client, "/api/jobs?status=in_progress,pending&limit=200&offset=0")
    assert [(j["id"], j["status"]) for j in active["jobs"]] == [
        (pending, "pending"), (running, "in_progress")]
    page = await get(client, "/api/jobs?status=completed&limit=2&offset=1&sort_order=asc")
    assert [j["id"] for j in page["jobs"]] == done[1:3]
    assert page["pagination"] == {"offset": 1, "limit": 2, "total": 3, "has_more": False}
    first = await get(client, "/jobs?status=completed&limit=1")
    assert first["pagination"]["has_more"] is True
    by_duration = await get(client, "/jobs?status=completed&sort_by=execution_duration")
    durations = [j["execution_end_time"] - j["execution_start_time"]
                 for j in by_duration["jobs"]]
    assert durations == sorted(durations, reverse=True)
    item = page["jobs"][0]
    assert {"id", "status", "priority", "outputs_count", "create_time"} <= set(item)
    assert item["outputs_count"] == 2 and "client_id" not in str(item)
    for bad in ("status=done", "sort_by=name", "sort_order=up", "limit=-1", "offset=x"):
        await get(client, f"/api/jobs?{bad}", status=400)
    await get(client, "/api/jobs/unknown", status=404)
    await get(client, "/api/jobs?workflow_id=none")
    Hold.gate.set()
    await messages_until(ws, is_end_of(pending))
    await ws.close()
