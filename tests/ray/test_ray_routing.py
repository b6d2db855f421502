"""Model-affinity routing on real actors: 3 checkpoints, 2 actors holding one model each, a
mixed queue; affinity causes fewer model loads than round-robin (counted by the actors)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray tests need ray (pip install latentgraph[ray])")

from tests.ray.conftest import RayServed, serve_ray  # noqa: E402
from tests.ray.model_pack import load_prompt  # noqa: E402
from tests.server.conftest import ClientFactory  # noqa: E402

pytestmark = [pytest.mark.asyncio, pytest.mark.ray, pytest.mark.slow,
              pytest.mark.usefixtures("local_ray")]
CHECKPOINTS = ("a.ckpt", "b.ckpt", "c.ckpt")
JOBS = 18


async def run_mixed_queue(served: RayServed) -> int:
    """Queue a, b, c, a, b, c … at once (before the workers are ready), run them all, and
    return how many model files the workers loaded."""
    for n in range(JOBS):
        await served.queue(load_prompt(CHECKPOINTS[n % 3], n, ms=100), f"j{n}")
    jobs = [await served.finished(f"j{n}", timeout=120.0) for n in range(JOBS)]
    assert [j["outputs"]["2"]["numbers"] for j in jobs] == [[float(n)] for n in range(JOBS)]
    return served.loads()


async def test_affinity_loads_fewer_models_than_round_robin(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    affinity = await serve_ray(aiohttp_client, tmp_path / "affinity", wait=False)
    affinity_loads = await run_mixed_queue(affinity)
    round_robin = await serve_ray(aiohttp_client, tmp_path / "rr", policy="round-robin",
                                  wait=False)
    round_robin_loads = await run_mixed_queue(round_robin)
    print(f"model loads over {JOBS} jobs: affinity {affinity_loads}, "
          f"round-robin {round_robin_loads}")
    assert affinity.backend.pool.started == round_robin.backend.pool.started == 2
    # round-robin alternates workers over alternating models: most jobs load (how many
    # depends on which worker frees first, so only a floor of two thirds is asserted)
    assert round_robin_loads >= JOBS * 2 // 3
    assert affinity_loads <= JOBS // 2, (affinity_loads, round_robin_loads)
    assert affinity_loads < round_robin_loads
