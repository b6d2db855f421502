"""The routes end to end over the supervised process backend (stub nodes in the worker): the
message sequence, previews as bytes across the pipe, validation in the server's process,
``/free`` and ``/system_stats`` answered by the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_asyncio

from tests.faults.conftest import Served, poll, serve
from tests.faults.fault_pack import fault
from tests.server.conftest import ClientFactory, connect, is_end_of, messages_until
from tests.server.stub_pack import show_prompt

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def served(aiohttp_client: ClientFactory, tmp_path: Path) -> Served:
    return await serve(aiohttp_client, tmp_path)


async def test_the_whole_job_cycle_runs_in_the_worker(served: Served) -> None:
    ws, sid = await connect(served.client)
    await served.queue(show_prompt(2.0), "one", sid)
    seen = await messages_until(ws, is_end_of("one"))
    kinds = [m["type"] for m in seen if m["type"] != "progress_state"]
    assert kinds == ["status", "status", "execution_start", "execution_cached", "executing",
                     "executing", "executing", "executed", "execution_success", "status",
                     "executing"]
    executed = next(m for m in seen if m["type"] == "executed")
    assert executed["data"]["output"] == {"numbers": [3.0], "labels": [""]}
    response = await served.client.get("/history/one")
    history = (await response.json())["one"]
    assert history["outputs"] == {"3": {"numbers": [3.0], "labels": [""]}}
    assert history["status"]["status_str"] == "success"
    await ws.close()


async def test_previews_cross_the_pipe_as_bytes(served: Served) -> None:
    ws, sid = await connect(served.client)
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 1}},
              "2": {"class_type": "Previewer", "inputs": {"a": ["1", 0], "steps": 3}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    await served.queue(prompt, "previews", sid, {"preview_method": "auto"})  # none by default
    frames: list[bytes] = []
    seen = await messages_until(ws, is_end_of("previews"), frames)
    assert [m["data"]["value"] for m in seen if m["type"] == "progress"] == [1, 2, 3]
    assert len(frames) == 3
    assert all(frame[8:16] == b"\x89PNG\r\n\x1a\n" for frame in frames)  # type 1, PNG
    await ws.close()


async def test_validation_answers_while_the_worker_hangs(served: Served) -> None:
    await served.queue(fault("Hang", seconds=60), "hang")
    await poll(lambda: served.job("hang"), lambda job: job["status"] == "in_progress")
    bad = {"1": {"class_type": "Constant", "inputs": {"value": "not a number"}},
           "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    response = await served.client.post("/prompt", json={"prompt": bad})
    assert response.status == 400
    body = await response.json()
    assert body["node_errors"]["1"]["errors"][0]["type"] == "invalid_input_type"
    await served.client.post("/interrupt", json={"prompt_id": "hang"})
    assert (await served.finished("hang"))["status"] == "cancelled"


async def test_free_and_system_stats_go_through_the_worker(served: Served) -> None:
    pid = await served.new_worker(None)
    response = await served.client.post("/free", json={"unload_models": True})
    assert response.status == 200
    await served.queue(show_prompt(), "after-free")  # /free applies between jobs
    assert (await served.finished("after-free"))["status"] == "completed"
    marker = served.settings.temp_dir / "unloaded"
    lines = await poll(lambda: asyncio.to_thread(_lines, marker), bool)
    assert lines == [str(pid)]
    response = await served.client.get("/system_stats")
    assert (await response.json())["devices"][0]["name"] == f"fault-worker:{pid}"


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []
