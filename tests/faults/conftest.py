"""An in-test server over the process backend whose worker runs the fault pack (no torch)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient

from executor.process_backend import ProcessBackend
from executor.worker_child import WorkerSetup
from executor.worker_supervisor import WorkerSupervisor
from latentgraph.app import build_process_backend, stop_with_app
from nodes.api import Folders
from nodes.api.ports import UnwiredModelFiles
from server.app import create_app
from server.settings import ServerSettings
from tests.faults.fault_pack import build_worker, fault_registry
from tests.server.conftest import ClientFactory, make_settings

GRACE_S = 1.0  # the cancel grace of these tests
WAIT_S = 20.0


@dataclass
class Served:
    client: TestClient
    backend: ProcessBackend
    settings: ServerSettings

    async def job(self, prompt_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/jobs/{prompt_id}")
        assert response.status == 200, await response.text()
        return dict(await response.json())

    async def queue(self, prompt: dict[str, Any], prompt_id: str, client_id: str | None = None,
                    extra_data: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"prompt": prompt, "prompt_id": prompt_id}
        if extra_data is not None:
            body["extra_data"] = extra_data
        if client_id:
            body["client_id"] = client_id
        response = await self.client.post("/prompt", json=body)
        assert response.status == 200, await response.text()

    async def finished(self, prompt_id: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The job once it has ended (polled: these tests watch a process, not messages)."""
        return await poll(lambda: self.job(prompt_id),
                          lambda job: job["status"] not in ("pending", "in_progress"), timeout)

    async def new_worker(self, old_pid: int | None) -> int:
        """The pid of the worker that replaced ``old_pid``, once it is ready."""
        def ready() -> int:
            handle = self.backend.supervisor.ready_worker(WAIT_S)
            assert handle is not None and handle.pid is not None
            return handle.pid
        return await poll(lambda: asyncio.to_thread(ready), lambda pid: pid != old_pid)


async def poll(read: Callable[[], Any], done: Callable[[Any], bool],
               timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last value: {value}")
        await asyncio.sleep(0.02)


def fault_backend(settings: ServerSettings, grace: float = GRACE_S,
                  build: Callable[[str], WorkerSetup] = build_worker) -> ProcessBackend:
    """A started worker running the fault pack, and the backend over it."""
    supervisor = WorkerSupervisor(functools.partial(build, str(settings.base_dir)))
    supervisor.start()
    folders = Folders(settings.input_dir, settings.output_dir, settings.temp_dir)
    return build_process_backend(supervisor, fault_registry(), folders, UnwiredModelFiles(),
                                 cancel_grace_s=grace)


async def serve(aiohttp_client: ClientFactory, base: Path,
                build: Callable[[str], WorkerSetup] = build_worker, **options: Any) -> Served:
    settings = make_settings(base, **options)
    backend = fault_backend(settings, build=build)
    app = create_app(backend, fault_registry(), settings)
    stop_with_app(app, backend)
    return Served(await aiohttp_client(app), backend, settings)


@pytest_asyncio.fixture
async def served(aiohttp_client: ClientFactory, tmp_path: Path) -> Served:
    return await serve(aiohttp_client, tmp_path)


@pytest_asyncio.fixture
async def served_requeue(aiohttp_client: ClientFactory, tmp_path: Path) -> Served:
    return await serve(aiohttp_client, tmp_path, on_crash="requeue")
