"""Servers over the Ray backend whose actors run the stub pack, for the Ray tests (each test
module skips, saying why, when Ray is not installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.settings import ServerSettings
from tests.faults.conftest import poll
from tests.server.conftest import ClientFactory, make_settings

READY_S = 90.0  # actors start in a few seconds; a loaded 2-core machine takes longer


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """A local Ray instance for the session: small (4 logical CPUs, a 200 MB object store,
    no dashboard)."""
    import ray

    from executor.ray_backend import RayConfig, start_ray

    owns = start_ray(RayConfig(num_cpus=4))
    yield
    if owns:
        ray.shutdown()


@dataclass
class RayServed:
    client: TestClient
    backend: Any  # executor.ray_backend.RayBackend
    settings: ServerSettings

    async def job(self, prompt_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/jobs/{prompt_id}")
        assert response.status == 200, await response.text()
        return dict(await response.json())

    async def queue(self, prompt: dict[str, Any], prompt_id: str, client_id: str | None = None,
                    extra_data: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"prompt": prompt, "prompt_id": prompt_id,
                                "extra_data": extra_data or {}}
        if client_id:
            body["client_id"] = client_id
        response = await self.client.post("/prompt", json=body)
        assert response.status == 200, await response.text()

    async def finished(self, prompt_id: str, timeout: float = 60.0) -> dict[str, Any]:
        return await poll(lambda: self.job(prompt_id),
                          lambda job: job["status"] not in ("pending", "in_progress"), timeout)

    def loads(self) -> int:
        """Model files loaded by the workers alive now."""
        self.backend.pool.reconcile()
        return sum(int(s.state.get("loads") or 0) for s in self.backend.pool.ready_slots())


async def serve_ray(aiohttp_client: ClientFactory, base: Path, *, workers: int = 2,
                    policy: str = "affinity", capacity: int = 1, grace: float = 1.0,
                    wait: bool = True, **options: Any) -> RayServed:
    """A server over ``workers`` Ray actors (crashed jobs re-queued once by default)."""
    from executor.ray_backend import RayConfig, wait_for_workers
    from latentgraph.app import build_ray_backend, stop_with_app
    from nodes.api import Folders
    from nodes.api.ports import UnwiredModelFiles
    from server.app import create_app
    from tests.ray.model_pack import model_registry, worker_build

    options.setdefault("on_crash", "requeue")
    settings = make_settings(base, **options)
    registry = model_registry()
    folders = Folders(settings.input_dir, settings.output_dir, settings.temp_dir)
    config = RayConfig(workers=workers, policy=policy, cancel_grace_s=grace, monitor_s=0.5)
    backend = build_ray_backend(worker_build(settings.base_dir, capacity), registry, folders,
                                UnwiredModelFiles(), config)
    if wait:
        ready = await asyncio.to_thread(wait_for_workers, backend, workers, READY_S)
        assert ready == workers, f"only {ready} of {workers} Ray workers became ready"
    app = create_app(backend, registry, settings)
    stop_with_app(app, backend)
    return RayServed(await aiohttp_client(app), backend, settings)
