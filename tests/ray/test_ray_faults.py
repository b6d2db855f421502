"""Faults on the Ray backend: an actor killed mid-job (the job re-queued once and completed on
another actor, or failed with the reason), none lost; cancel by id reaching the actor; a worker
joining or leaving picked up while the server runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the Ray tests need ray (pip install latentgraph[ray])")

from tests.faults.conftest import poll  # noqa: E402
from tests.faults.fault_pack import fault, runs  # noqa: E402
from tests.ray.conftest import RayServed, serve_ray  # noqa: E402
from tests.ray.model_pack import load_prompt  # noqa: E402
from tests.server.conftest import ClientFactory  # noqa: E402

pytestmark = [pytest.mark.asyncio, pytest.mark.ray, pytest.mark.slow,
              pytest.mark.usefixtures("local_ray")]


def running_slot(served: RayServed, prompt_id: str):  # type: ignore[no-untyped-def]
    return next((s for s in served.backend.pool.ready_slots() if s.job_id == prompt_id), None)


async def test_an_actor_killed_mid_job_and_the_job_completes_on_another(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    served = await serve_ray(aiohttp_client, tmp_path)
    await served.queue(load_prompt("a.ckpt", 7, ms=4000), "victim")
    for n in range(3):
        await served.queue(load_prompt("b.ckpt", n, ms=50), f"other{n}")
    slot = await poll(lambda: asyncio.sleep(0, running_slot(served, "victim")),
                      lambda s: s is not None and s.cancel is not None)
    await poll(lambda: served.job("victim"), lambda job: job["status"] == "in_progress")
    ray.kill(slot.actor, no_restart=True)  # as kill -9 or a lost node would
    job = await served.finished("victim")
    assert job["status"] == "completed"
    assert job["outputs"]["2"]["numbers"] == [7.0]
    assert served.backend.pool.started == 3  # the dead actor was replaced
    crashes = served.settings.db_path  # the crash is counted in the store
    from server.job_store import JobStore

    store = JobStore(crashes)
    try:
        assert store.crashes("victim") == 1
    finally:
        store.close()
    others = [await served.finished(f"other{n}") for n in range(3)]
    assert [o["status"] for o in others] == ["completed"] * 3  # none lost


async def test_a_job_that_kills_every_actor_fails_with_the_reason(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    served = await serve_ray(aiohttp_client, tmp_path)
    await served.queue(fault("Crash", code=3), "poison")
    await served.queue(load_prompt("a.ckpt", 1), "after")
    job = await served.finished("poison")
    assert job["status"] == "failed"
    error = job["execution_error"]
    assert error["exception_type"] == "WorkerCrashed"
    assert "the Ray worker worker-" in error["exception_message"]
    # the reason Ray gives (the node is named when its start reached the server in time)
    assert "died" in error["exception_message"]
    assert "The actor died unexpectedly" in error["exception_message"]
    assert len(runs(served.settings.output_dir, "Crash")) == 2  # re-queued once, no more
    assert (await served.finished("after"))["status"] == "completed"


async def test_without_requeue_a_crashed_job_fails_at_once(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    served = await serve_ray(aiohttp_client, tmp_path, on_crash="interrupt")
    await served.queue(fault("Crash", code=3), "poison")
    job = await served.finished("poison")
    assert job["status"] == "failed"
    assert len(runs(served.settings.output_dir, "Crash")) == 1


async def test_cancel_by_id_reaches_the_actor(aiohttp_client: ClientFactory,
                                              tmp_path: Path) -> None:
    served = await serve_ray(aiohttp_client, tmp_path, grace=30.0)
    await served.queue(load_prompt("a.ckpt", 1, ms=60_000), "long")
    await served.queue(load_prompt("a.ckpt", 2, ms=60_000), "kept")
    await poll(lambda: served.job("long"), lambda job: job["status"] == "in_progress")
    await poll(lambda: served.job("kept"), lambda job: job["status"] == "in_progress")
    response = await served.client.post("/api/jobs/long/cancel")
    assert response.status == 200, await response.text()
    job = await served.finished("long", timeout=20.0)  # cooperative: far below the grace
    assert job["status"] == "cancelled"
    assert served.backend.pool.started == 2  # stopped by the node, not by killing the actor
    assert (await served.job("kept"))["status"] == "in_progress"  # the other job runs on
    await served.client.post("/api/jobs/kept/cancel")
    assert (await served.finished("kept", timeout=20.0))["status"] == "cancelled"


async def test_workers_joining_and_leaving_are_picked_up(aiohttp_client: ClientFactory,
                                                         tmp_path: Path) -> None:
    served = await serve_ray(aiohttp_client, tmp_path, workers=1)
    pool = served.backend.pool
    pool.workers = 2  # as a GPU node joining the cluster raises the target
    await poll(lambda: asyncio.sleep(0, len(pool.ready_slots())), lambda n: n == 2, 90.0)
    stats = await (await served.client.get("/system_stats")).json()
    assert sorted(d["worker"] for d in stats["devices"]) == ["worker-1", "worker-2"]
    ray.kill(pool.slots["worker-1"].actor, no_restart=True)  # a node leaving
    pool.workers = 1
    await poll(lambda: asyncio.sleep(0, sorted(pool.slots)), lambda n: n == ["worker-2"], 30.0)
    await served.queue(load_prompt("a.ckpt", 5), "after")
    assert (await served.finished("after"))["status"] == "completed"


async def test_stopping_the_server_puts_running_jobs_back_in_the_queue(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    served = await serve_ray(aiohttp_client, tmp_path)
    for n in range(3):
        await served.queue(load_prompt("a.ckpt", n, ms=60_000), f"long{n}")
    for n in range(2):  # two actors: two run, one waits
        await poll(lambda n=n: served.job(f"long{n}"), lambda j: j["status"] == "in_progress")
    await served.client.close()  # the app's shutdown: interrupt, re-queue, stop the actors
    from server.job_store import JobStore

    store = JobStore(served.settings.db_path)
    try:
        running, pending = store.queue()
        assert running == []
        assert [r.prompt_id for r in pending] == ["long0", "long1", "long2"]  # old order
    finally:
        store.close()
    assert served.backend.pool.slots == {}


async def test_a_job_for_an_actor_dead_since_its_last_job_runs_elsewhere_without_a_crash(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    from executor.jobs import JobRequest
    from executor.routing import JobView

    served = await serve_ray(aiohttp_client, tmp_path)
    backend = served.backend
    assert backend.assign([JobView("x")]) == (0, "worker-1")  # reserved, as the server does
    victim = backend.pool.slots["worker-1"].actor
    ray.kill(victim, no_restart=True)
    await asyncio.to_thread(wait_until_dead, victim)
    seen: list[str] = []
    outcome = await asyncio.to_thread(
        backend.execute, JobRequest("x", load_prompt("a.ckpt", 4)),
        lambda event: seen.append(type(event).__name__))
    assert outcome.ok and outcome.crash is None
    assert outcome.outputs["2"]["numbers"] == [4.0]
    assert "worker-1" not in backend.pool.slots


def wait_until_dead(actor: Any, timeout: float = 30.0) -> None:
    """ray.kill is asynchronous: a call sent just after it may still be answered. Poll until
    the actor refuses calls, so the test starts from an actor that is really gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ray.get(actor.state.remote(), timeout=5.0)
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.1)
    raise AssertionError(f"actor {actor} still answers {timeout} s after ray.kill")
