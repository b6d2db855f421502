"""Every sampler and scheduler name of ComfyUI's lists runs end to end through the engine: a
tiny SD1.5 txt2img prompt (64×64, 3 steps) with KSampler, executed by one module-wide engine
(the checkpoint is loaded once; each job re-runs only KSampler)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from diffusion.sampling import SAMPLER_NAMES, SCHEDULER_NAMES
from executor.engine import Engine
from executor.jobs import JobRequest
from tests.workflows.support import TinyCheckpoints, Workspace, cached_output, link_or_copy


def prompt(sampler_name: str, scheduler: str = "karras") -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["4", 0], "seed": 5, "steps": 3, "cfg": 6.0, "sampler_name": sampler_name,
            "scheduler": scheduler, "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0], "denoise": 1.0}},
    }


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory,
           tiny_checkpoints: TinyCheckpoints) -> Iterator[Engine]:
    base: Path = tmp_path_factory.mktemp("every-sampler")
    target = base / "models" / "checkpoints" / "sd15.safetensors"
    link_or_copy(tiny_checkpoints.path("sd15"), target)
    yield Workspace(base).engine()


def _sample(engine: Engine, sampler_name: str, scheduler: str = "karras") -> torch.Tensor:
    job = prompt(sampler_name, scheduler)
    result = engine.execute(JobRequest(f"{sampler_name}-{scheduler}", job, ("3",)))
    assert result.ok, result.failure
    return cached_output(engine, job, "3").samples  # (1, 4, 8, 8)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_every_sampler_runs_txt2img(engine: Engine, name: str) -> None:
    samples = _sample(engine, name)
    assert samples.shape == (1, 4, 8, 8) and bool(torch.isfinite(samples).all())
    assert float(samples.abs().max()) > 0


@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
def test_every_scheduler_runs_txt2img(engine: Engine, scheduler: str) -> None:
    samples = _sample(engine, "euler", scheduler)
    assert bool(torch.isfinite(samples).all())
