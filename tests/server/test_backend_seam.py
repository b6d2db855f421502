"""The server depends only on the ``ExecutionBackend`` protocol: a stub backend (no ``Engine``,
no output cache, no model ports) drives the routes end to end — queue, websocket messages,
history, the jobs API, interrupt, ``/free`` and ``/system_stats``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from executor.events import (
    EventSink,
    JobInterrupted,
    JobStarted,
    JobSucceeded,
    NodeFinished,
    NodeOutput,
    NodeStarted,
)
from executor.jobs import JobOutcome, JobRequest, JobStatus
from executor.validate import ValidatedPrompt, validate_prompt
from nodes.api import Registry
from server.app import create_app
from tests.server.conftest import (
    ClientFactory,
    connect,
    is_end_of,
    make_settings,
    messages_until,
    queue_prompt,
)
from tests.server.stub_pack import hold_prompt, server_registry, show_prompt

pytestmark = pytest.mark.asyncio

DEVICE = {"name": "stub:0", "type": "stub", "index": 0, "vram_total": 1, "vram_free": 1,
          "torch_vram_total": 1, "torch_vram_free": 1}


async def get(client: TestClient, path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


async def post(client: TestClient, path: str, body: Any) -> None:
    response = await client.post(path, json=body)
    assert response.status == 200, await response.text()


class StubBackend:
    """Validates with the executor's validator, 'runs' each output node by reporting it, and
    holds ``Hold`` jobs until their cancel event is set."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.freed: list[tuple[bool, bool]] = []
        self.holding = threading.Event()

    def validate(self, prompt: Mapping[str, Any], *, targets: Sequence[str] | None = None,
                 strict: bool = False) -> ValidatedPrompt:
        return validate_prompt(prompt, self.registry, targets=targets, strict=strict)

    async def execute_async(self, request: JobRequest, sink: EventSink | None = None,
                            validated: ValidatedPrompt | None = None,
                            cancel_event: threading.Event | None = None) -> JobOutcome:
        assert sink is not None and validated is not None and cancel_event is not None
        return await asyncio.to_thread(self._run, request, sink, validated, cancel_event)

    def _run(self, request: JobRequest, sink: EventSink, validated: ValidatedPrompt,
             cancel: threading.Event) -> JobOutcome:
        job = request.job_id
        sink(JobStarted(job))
        if any(node.cls.type_name == "Hold" for node in validated.nodes.values()):
            sink(NodeStarted(job, "2", "Hold"))
            self.holding.set()
            cancel.wait(30)
            sink(JobInterrupted(job, "2", "Hold", ()))
            return JobOutcome(job, JobStatus.INTERRUPTED, interrupted_at="2")
        outcome = JobOutcome(job, JobStatus.SUCCESS, executed=list(validated.outputs))
        for node_id in validated.outputs:
            node_type = validated.nodes[node_id].cls.type_name
            sink(NodeStarted(job, node_id, node_type))
            ui = {"text": [f"stub ran {node_type}"]}
            outcome.outputs[node_id] = ui
            outcome.timings[node_id] = 0.0
            sink(NodeOutput(job, node_id, ui))
            sink(NodeFinished(job, node_id, 0.0))
        sink(JobSucceeded(job))
        return outcome

    def cancel(self, job_id: str) -> bool:
        return False

    def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        self.freed.append((unload_models, free_memory))

    def devices(self) -> list[dict[str, Any]]:
        return [DEVICE]


@pytest_asyncio.fixture
async def stub(aiohttp_client: ClientFactory, tmp_path: Path
               ) -> tuple[TestClient, StubBackend]:
    registry = server_registry()
    backend = StubBackend(registry)
    app = create_app(backend, registry, make_settings(tmp_path))
    return await aiohttp_client(app), backend


async def test_a_stub_backend_serves_the_whole_job_cycle(
    stub: tuple[TestClient, StubBackend],
) -> None:
    client, backend = stub
    ws, sid = await connect(client)
    queued = await queue_prompt(client, show_prompt(2.0), sid)
    prompt_id = queued["prompt_id"]
    seen = await messages_until(ws, is_end_of(prompt_id))
    kinds = [m["type"] for m in seen if m["type"] != "progress_state"]
    assert kinds == ["status", "status", "execution_start", "executing", "executed",
                     "execution_success", "status", "executing"]  # queued, claimed, … ended
    executed = next(m for m in seen if m["type"] == "executed")
    assert executed["data"]["output"] == {"text": ["stub ran Show"]}
    history = (await get(client, f"/history/{prompt_id}"))[prompt_id]
    assert history["outputs"] == {"3": {"text": ["stub ran Show"]}}
    assert history["status"]["status_str"] == "success" and history["status"]["completed"]
    job = await get(client, f"/api/jobs/{prompt_id}")
    assert job["status"] == "completed" and job["executed"] == ["3"]
    await ws.close()


async def test_interrupt_reaches_the_backend_through_the_cancel_event(
    stub: tuple[TestClient, StubBackend],
) -> None:
    client, backend = stub
    ws, sid = await connect(client)
    prompt_id = (await queue_prompt(client, hold_prompt(), sid))["prompt_id"]
    assert await asyncio.to_thread(backend.holding.wait, 20)
    await post(client, "/interrupt", {"prompt_id": prompt_id})
    seen = await messages_until(ws, is_end_of(prompt_id))
    assert "execution_interrupted" in [m["type"] for m in seen]
    job = await get(client, f"/api/jobs/{prompt_id}")
    assert job["status"] == "cancelled"
    await ws.close()


async def test_free_and_system_stats_go_through_the_backend(
    stub: tuple[TestClient, StubBackend],
) -> None:
    client, backend = stub
    await post(client, "/free", {"unload_models": True})
    await post(client, "/free", {"free_memory": True})
    assert backend.freed == [(True, False), (False, True)]
    stats = await get(client, "/system_stats")
    assert stats["devices"] == [DEVICE]
