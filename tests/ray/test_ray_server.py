"""The routes end to end over the Ray backend (2 actors running the stub pack): the same
websocket sequence and history as the local backend, previews as bytes, output files in the
server's output folder, inputs by content hash, every worker's devices in /system_stats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

pytest.importorskip("ray", reason="the Ray tests need ray (pip install latentgraph[ray])")

from tests.ray.conftest import RayServed, serve_ray  # noqa: E402
from tests.server.conftest import (  # noqa: E402
    ClientFactory,
    connect,
    is_end_of,
    make_app,
    make_settings,
    messages_until,
)
from tests.server.stub_pack import png_bytes, save_prompt, show_prompt  # noqa: E402

pytestmark = [pytest.mark.asyncio, pytest.mark.ray, pytest.mark.slow,
              pytest.mark.usefixtures("local_ray")]


@pytest_asyncio.fixture
async def served(aiohttp_client: ClientFactory, tmp_path: Path) -> RayServed:
    return await serve_ray(aiohttp_client, tmp_path / "ray")


def kinds(seen: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in seen if m["type"] != "progress_state"]


async def run_local(aiohttp_client: ClientFactory, base: Path, prompt: dict[str, Any],
                    prompt_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The message sequence and history entry of ``prompt`` on the in-process backend."""
    from tests.ray.model_pack import model_registry

    client = await aiohttp_client(make_app(model_registry(), make_settings(base)))
    ws, sid = await connect(client)
    response = await client.post("/prompt", json={"prompt": prompt, "prompt_id": prompt_id,
                                                  "client_id": sid})
    assert response.status == 200
    seen = await messages_until(ws, is_end_of(prompt_id))
    history = (await (await client.get(f"/history/{prompt_id}")).json())[prompt_id]
    await ws.close()
    return seen, history


def comparable(history: dict[str, Any]) -> dict[str, Any]:
    """A history entry without its times (they differ from run to run)."""
    status = dict(history["status"])
    status["messages"] = [[kind, {k: v for k, v in data.items() if k != "timestamp"}]
                          for kind, data in status["messages"]]
    number, prompt_id, prompt, extra, outputs = history["prompt"]
    extra = {k: v for k, v in extra.items() if k != "create_time"}
    return {**history, "status": status, "prompt": [number, prompt_id, prompt, extra, outputs]}


async def test_same_sequence_and_history_as_the_local_backend(
        served: RayServed, aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    local_seen, local_history = await run_local(aiohttp_client, tmp_path / "local",
                                                show_prompt(2.0), "one")
    ws, sid = await connect(served.client)
    await served.queue(show_prompt(2.0), "one", sid)
    seen = await messages_until(ws, is_end_of("one"))
    assert kinds(seen) == kinds(local_seen)
    assert kinds(seen) == ["status", "status", "execution_start", "execution_cached",
                           "executing", "executing", "executing", "executed",
                           "execution_success", "status", "executing"]
    history = (await (await served.client.get("/history/one")).json())["one"]
    assert comparable(history) == comparable(local_history)
    assert history["outputs"] == {"3": {"numbers": [3.0], "labels": [""]}}
    await ws.close()


async def test_a_failing_node_fails_as_locally(served: RayServed, aiohttp_client: ClientFactory,
                                               tmp_path: Path) -> None:
    prompt = {"1": {"class_type": "Oom", "inputs": {"token": 1}}}
    local_seen, local_history = await run_local(aiohttp_client, tmp_path / "local", prompt, "f")
    ws, sid = await connect(served.client)
    await served.queue(prompt, "f", sid)
    seen = await messages_until(ws, is_end_of("f"))
    assert kinds(seen) == kinds(local_seen)
    error = next(m for m in seen if m["type"] == "execution_error")["data"]
    assert error["exception_type"] == "MemoryError"
    history = (await (await served.client.get("/history/f")).json())["f"]
    assert history["status"]["status_str"] == local_history["status"]["status_str"] == "error"
    await ws.close()


async def test_previews_and_output_files_come_back(served: RayServed) -> None:
    ws, sid = await connect(served.client)
    prompt = {"1": {"class_type": "Constant", "inputs": {"value": 1}},
              "2": {"class_type": "Previewer", "inputs": {"a": ["1", 0], "steps": 3}},
              "3": {"class_type": "SaveNumber", "inputs": {"value": ["2", 0]}}}
    await served.queue(prompt, "previews", sid, {"preview_method": "auto"})
    frames: list[bytes] = []
    seen = await messages_until(ws, is_end_of("previews"), frames)
    assert [m["data"]["value"] for m in seen if m["type"] == "progress"] == [1, 2, 3]
    assert len(frames) == 3 and all(f[8:16] == b"\x89PNG\r\n\x1a\n" for f in frames)
    image = next(m for m in seen if m["type"] == "executed")["data"]["output"]["images"][0]
    response = await served.client.get("/view", params={"filename": image["filename"],
                                                        "type": "output"})
    assert response.status == 200 and await response.read() == png_bytes()
    await ws.close()


async def test_a_file_a_worker_wrote_elsewhere_reaches_the_output_folder(
        served: RayServed) -> None:
    """The server writes what the actor returned: here the file the actor wrote is deleted
    before the server's copy is checked, so only the returned bytes can have made it."""
    from executor.jobs import JobRequest
    from executor.ray_job import RayJob

    slot = served.backend.pool.ready_slots()[0]
    elsewhere = served.settings.base_dir / "elsewhere"
    job = RayJob(slot.actor, slot.name, JobRequest("x", save_prompt()), lambda e: None,
                 __import__("threading").Event(), 1.0, elsewhere, lambda: None)
    outcome = job.run()
    name = outcome.outputs["2"]["images"][0]["filename"]
    assert (elsewhere / name).read_bytes() == png_bytes()


async def test_inputs_reach_the_workers_by_content_hash(served: RayServed) -> None:
    backend = served.backend
    slot = backend.pool.ready_slots()[0]
    (served.settings.input_dir / "pic.png").write_bytes(png_bytes())
    manifest = backend._input_manifest({"1": {"inputs": {"image": "pic.png"}}})
    import ray

    assert ray.get(slot.actor.missing_inputs.remote(manifest)) == []  # shared folder
    other = {"pic.png": "0" * 64}  # another content under that name: it would be sent
    assert ray.get(slot.actor.missing_inputs.remote(other)) == ["pic.png"]


async def test_system_stats_lists_every_workers_devices(served: RayServed) -> None:
    stats = await (await served.client.get("/system_stats")).json()
    workers = sorted(d["worker"] for d in stats["devices"])
    assert workers == ["worker-1", "worker-2"]
    assert len({d["name"] for d in stats["devices"]}) == 2  # two actor processes


async def test_jobs_run_on_both_workers_at_once(served: RayServed) -> None:
    from tests.ray.model_pack import load_prompt

    for n in range(4):
        await served.queue(load_prompt("a.ckpt", n, ms=300), f"p{n}")
    jobs = [await served.finished(f"p{n}") for n in range(4)]
    assert [j["status"] for j in jobs] == ["completed"] * 4
    started = sorted(j["execution_start_time"] for j in jobs)
    ended = sorted(j["execution_end_time"] for j in jobs)
    assert started[1] < ended[0]  # the second job started before the first ended
