"""Fault injection against the supervised worker: for every fault the server stays up, no job is
lost, a job that crashed its worker is not run again (or once, with ``on_crash=requeue``), and
the next queued job completes. The worker runs the fault pack (``tests/faults/fault_pack.py``),
with a cancel grace of ``GRACE_S``."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from server.job_store import JobStore
from tests.faults.conftest import GRACE_S, Served, poll, serve
from tests.faults.fault_pack import broken_worker, fault, runs, slow_worker
from tests.faults.real_server import gone
from tests.server.conftest import ClientFactory, connect, is_end_of, messages_until
from tests.server.slow_pack import sleep_prompt
from tests.server.stub_pack import show_prompt

pytestmark = pytest.mark.asyncio


async def assert_next_job_completes(served: Served, name: str = "next") -> None:
    await served.queue(show_prompt(), name)
    job = await served.finished(name)
    assert job["status"] == "completed", job
    assert job["outputs"]["3"] == {"numbers": [2.0], "labels": [""]}


@pytest.mark.parametrize(("node", "inputs", "how"), [
    ("Crash", {"code": 3}, "exited with status 3"),
    ("Segfault", {}, "was killed by SIGSEGV"),
])
async def test_a_node_that_kills_its_process_fails_only_its_job(
    served: Served, node: str, inputs: dict[str, int], how: str,
) -> None:
    first = await served.new_worker(None)
    ws, sid = await connect(served.client)
    await served.queue(fault(node, **inputs), "poison", sid)
    await served.queue(show_prompt(), "next")  # queued behind it: must not be lost
    seen = await messages_until(ws, is_end_of("poison"))
    error = next(m for m in seen if m["type"] == "execution_error")["data"]
    assert error["exception_type"] == "WorkerCrashed" and error["node_id"] == "1"
    assert how in error["exception_message"] and f"node 1 ({node})" in error["exception_message"]
    job = await served.finished("poison")
    assert job["status"] == "failed" and job["execution_error"]["exception_type"] == "WorkerCrashed"
    assert (await served.finished("next"))["status"] == "completed"
    assert await served.new_worker(first) != first  # restarted
    assert len(runs(served.settings.output_dir, node)) == 1  # never re-run
    await ws.close()


async def test_requeue_runs_a_crashed_job_once_and_never_again(served_requeue: Served) -> None:
    served = served_requeue
    await served.queue(fault("Crash", code=9, token=1), "poison")
    job = await served.finished("poison")
    assert job["status"] == "failed" and job["execution_error"]["exception_type"] == "WorkerCrashed"
    assert len(runs(served.settings.output_dir, "Crash")) == 2  # the first run and one retry
    store = JobStore(served.settings.db_path)
    try:
        assert store.crashes("poison") == 2
    finally:
        store.close()
    await assert_next_job_completes(served)
    assert len(runs(served.settings.output_dir, "Crash")) == 2


async def test_cancel_of_a_hanging_node_frees_the_queue_within_the_grace(served: Served) -> None:
    first = await served.new_worker(None)
    ws, sid = await connect(served.client)
    await served.queue(fault("Hang", seconds=120), "hang", sid)
    await served.queue(show_prompt(), "next")
    await poll(lambda: asyncio.to_thread(runs, served.settings.output_dir, "Hang"), bool)
    started = time.monotonic()
    response = await served.client.post("/interrupt", json={"prompt_id": "hang"})
    assert response.status == 200
    seen = await messages_until(ws, is_end_of("hang"))
    assert time.monotonic() - started < GRACE_S + 5
    interrupted = next(m for m in seen if m["type"] == "execution_interrupted")["data"]
    assert interrupted["node_id"] == "1" and interrupted["node_type"] == "Hang"
    job = await served.finished("hang")
    assert job["status"] == "cancelled" and "worker_killed" in job["notes"]["1"]
    assert (await served.finished("next"))["status"] == "completed"
    assert time.monotonic() - started < GRACE_S + 5
    assert await served.new_worker(first) != first
    await ws.close()


async def test_a_cooperative_cancel_keeps_the_worker(served: Served) -> None:
    first = await served.new_worker(None)
    await served.queue(sleep_prompt(1, 60_000), "sleepy")
    await poll(lambda: served.job("sleepy"), lambda job: job["status"] == "in_progress")
    response = await served.client.post("/interrupt", json={"prompt_id": "sleepy"})
    assert response.status == 200
    assert (await served.finished("sleepy", timeout=GRACE_S + 5))["status"] == "cancelled"
    await assert_next_job_completes(served)
    assert served.backend.supervisor.worker_pid == first and served.backend.supervisor.restarts == 0


async def test_memory_error_fails_the_job_and_keeps_the_worker(served: Served) -> None:
    first = await served.new_worker(None)
    await served.queue(fault("Oom"), "oom")
    job = await served.finished("oom")
    assert job["status"] == "failed"
    error = job["execution_error"]
    assert error["exception_type"] == "MemoryError"
    assert "ran out of memory" in error["exception_message"]
    await assert_next_job_completes(served)
    assert served.backend.supervisor.worker_pid == first and served.backend.supervisor.restarts == 0


async def test_kill_9_of_an_idle_worker(served: Served) -> None:
    first = await served.new_worker(None)
    os.kill(first, signal.SIGKILL)
    second = await served.new_worker(first)
    await assert_next_job_completes(served)
    response = await served.client.get("/system_stats")
    devices = (await response.json())["devices"]
    assert devices[0]["name"] == f"fault-worker:{second}"  # asked of the new worker


async def test_kill_9_of_the_worker_mid_node(served: Served) -> None:
    first = await served.new_worker(None)
    await served.queue(sleep_prompt(2, 60_000), "victim")
    await poll(lambda: served.job("victim"), lambda job: job["status"] == "in_progress")
    await asyncio.sleep(0.2)  # inside the node (a kill before it starts is the same crash)
    os.kill(first, signal.SIGKILL)
    job = await served.finished("victim")
    assert job["status"] == "failed"
    message = job["execution_error"]["exception_message"]
    assert "was killed by SIGKILL" in message and "node 1 (Sleep)" in message
    await assert_next_job_completes(served)
    assert await served.new_worker(first) != first


async def test_a_job_queued_as_the_idle_worker_dies_runs_on_the_next(served: Served) -> None:
    first = await served.new_worker(None)
    os.kill(first, signal.SIGKILL)
    assert await asyncio.to_thread(gone, first)  # dead, perhaps not yet noticed
    await assert_next_job_completes(served)  # not counted as a crash: it never reached it
    assert await served.new_worker(first) != first


async def test_a_worker_that_cannot_start_fails_jobs_at_once(
    aiohttp_client: ClientFactory, tmp_path: Path,
) -> None:
    served = await serve(aiohttp_client, tmp_path, build=broken_worker)
    await served.queue(show_prompt(), "first")
    job = await served.finished("first", timeout=10)
    assert job["status"] == "failed"
    error = job["execution_error"]
    assert error["exception_type"] == "WorkerUnavailableError"
    assert "ImportError: no module named 'broken_pack'" in error["exception_message"]


async def test_a_job_waiting_for_a_starting_worker_can_be_cancelled(
    aiohttp_client: ClientFactory, tmp_path: Path,
) -> None:
    served = await serve(aiohttp_client, tmp_path, build=slow_worker)
    await served.queue(show_prompt(), "waiting")
    await poll(lambda: served.job("waiting"), lambda job: job["status"] == "in_progress")
    response = await served.client.post("/interrupt", json={"prompt_id": "waiting"})
    assert response.status == 200
    assert (await served.finished("waiting", timeout=5))["status"] == "cancelled"
