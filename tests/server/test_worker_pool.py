"""The worker task over a worker pool (``executor.backend.WorkerPool``), without Ray: a pool of
two in-process engines. Several jobs run at once, the pool's routing picks which queued job
starts next and where, cancel and interrupt reach the right jobs, a stop re-queues them all."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from executor.backend import WorkerPool
from executor.cache import make_cache
from executor.engine import Engine
from executor.events import EventSink
from executor.jobs import JobOutcome, JobRequest
from executor.model_refs import model_names
from executor.routing import AffinityPolicy, Assignment, JobView, WorkerView
from executor.validate import ValidatedPrompt
from nodes.api import Folders, Registry
from server.app import create_app
from server.job_store import JobStore
from server.settings import ServerSettings
from tests.faults.conftest import poll
from tests.server.conftest import ClientFactory, make_settings
from tests.server.stub_pack import Hold, hold_prompt, server_registry, show_prompt

pytestmark = pytest.mark.asyncio


class EnginePool:
    """Two engines in this process, routed by model affinity; records where each job ran."""

    window = 8

    def __init__(self, registry: Registry, folders: Folders) -> None:
        self.changed = threading.Event()
        self.engines = {name: Engine(registry, make_cache("lru", max_entries=100),
                                     folders=folders) for name in ("w1", "w2")}
        self.models: dict[str, tuple[str, ...]] = {"w1": ("b.ckpt",), "w2": ()}
        self.busy: dict[str, str] = {}  # worker → job
        self.started: list[tuple[str, str]] = []
        self.policy = AffinityPolicy()

    def assign(self, jobs: Sequence[JobView]) -> Assignment | None:
        views = [WorkerView(n, self.models[n], 0, n not in self.busy) for n in self.engines]
        choice = self.policy.assign(jobs, views)
        if choice is not None:
            self.busy[choice[1]] = jobs[choice[0]].job_id
            self.started.append((jobs[choice[0]].job_id, choice[1]))
        return choice

    def release(self, job_id: str) -> None:
        self.busy = {n: j for n, j in self.busy.items() if j != job_id}
        self.changed.set()

    def validate(self, prompt: Any, *, targets: Any = None, strict: bool = False
                 ) -> ValidatedPrompt:
        return self.engines["w1"].validate(prompt, targets=targets, strict=strict)

    async def execute_async(self, request: JobRequest, sink: EventSink | None = None,
                            validated: ValidatedPrompt | None = None,
                            cancel_event: threading.Event | None = None) -> JobOutcome:
        name = next(n for n, j in self.busy.items() if j == request.job_id)
        try:
            return await self.engines[name].execute_async(request, sink, None, cancel_event)
        finally:
            self.models[name] = tuple(model_names(request.prompt))
            self.release(request.job_id)

    def cancel(self, job_id: str) -> bool:
        return False

    def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        return None

    def devices(self) -> list[dict[str, Any]]:
        return []


@pytest_asyncio.fixture
async def pooled(aiohttp_client: ClientFactory, tmp_path: Path
                 ) -> tuple[TestClient, EnginePool, ServerSettings]:
    settings = make_settings(tmp_path)
    registry = server_registry()
    pool = EnginePool(registry, Folders(settings.input_dir, settings.output_dir,
                                        settings.temp_dir))
    assert isinstance(pool, WorkerPool)
    return await aiohttp_client(create_app(pool, registry, settings)), pool, settings


async def queue(client: TestClient, prompt: dict[str, Any], prompt_id: str) -> None:
    response = await client.post("/prompt", json={"prompt": prompt, "prompt_id": prompt_id})
    assert response.status == 200, await response.text()


async def status(client: TestClient, prompt_id: str) -> str:
    return str((await (await client.get(f"/api/jobs/{prompt_id}")).json())["status"])


async def finished(client: TestClient, prompt_id: str) -> str:
    return str(await poll(lambda: status(client, prompt_id),
                          lambda s: s not in ("pending", "in_progress")))



async def test_two_jobs_run_at_once_and_interrupt_stops_both(pooled: Any) -> None:
    client, pool, _ = pooled
    await queue(client, hold_prompt(1), "h1")
    await queue(client, hold_prompt(2), "h2")
    await queue(client, show_prompt(), "third")
    for _ in range(2):
        assert await asyncio.to_thread(Hold.entered.acquire, timeout=20)
    running = (await (await client.get("/queue")).json())["queue_running"]
    assert sorted(item[1] for item in running) == ["h1", "h2"]
    assert await status(client, "third") == "pending"  # no idle worker: it waits
    await client.post("/interrupt", json={})
    assert [await finished(client, p) for p in ("h1", "h2")] == ["cancelled", "cancelled"]
    assert await finished(client, "third") == "completed"


async def test_cancel_by_id_touches_only_that_job(pooled: Any) -> None:
    client, _, _ = pooled
    await queue(client, hold_prompt(1), "h1")
    await queue(client, hold_prompt(2), "h2")
    for _ in range(2):
        assert await asyncio.to_thread(Hold.entered.acquire, timeout=20)
    await client.post("/api/jobs/h2/cancel")
    assert await finished(client, "h2") == "cancelled"
    assert await status(client, "h1") == "in_progress"
    Hold.gate.set()
    assert await finished(client, "h1") == "completed"


async def test_the_pool_picks_the_job_its_idle_worker_holds(pooled: Any) -> None:
    client, pool, _ = pooled
    await queue(client, hold_prompt(1), "h1")  # takes w1 (the cheapest idle: it holds b)
    assert await asyncio.to_thread(Hold.entered.acquire, timeout=20)
    pool.models["w2"] = ("b.ckpt",)
    a_job = {**show_prompt(), "4": {"class_type": "Constant", "inputs": {"value": 1}}}
    b_job = show_prompt(3.0)
    a_job["4"]["inputs"]["ckpt_name"] = "a.ckpt"  # read by model_names only
    b_job["1"]["inputs"]["ckpt_name"] = "b.ckpt"
    pool.busy["w2"] = "blocked"  # hold w2 until both are queued
    await queue(client, a_job, "a")
    await queue(client, b_job, "b")
    pool.release("blocked")
    await finished(client, "b")
    assert ("b", "w2") in pool.started
    assert pool.started.index(("b", "w2")) < [j for j, _ in pool.started].index("a")
    Hold.gate.set()
    assert await finished(client, "a") == "completed"


async def test_stopping_puts_every_running_job_back(pooled: Any) -> None:
    client, _, settings = pooled
    await queue(client, hold_prompt(1), "h1")
    await queue(client, hold_prompt(2), "h2")
    for _ in range(2):
        assert await asyncio.to_thread(Hold.entered.acquire, timeout=20)
    await client.close()
    store = JobStore(settings.db_path)
    try:
        running, pending = store.queue()
        assert running == [] and [r.prompt_id for r in pending] == ["h1", "h2"]
    finally:
        store.close()
