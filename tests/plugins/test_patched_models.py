"""Weight patches through a plugin node: two jobs share one base model, one patched and one not.
Run interleaved step by step on one engine, each gives bit-identical results to running alone,
and the patched copy is built once."""

from __future__ import annotations

import threading
from typing import Any

import torch

from diffusion.sampling import SamplerSpec, StepCallback
from diffusion.sampling.ode_samplers import sample_euler
from executor.engine import Engine
from executor.jobs import JobOutcome, JobRequest
from latentgraph.app import build_engine, build_registry, folders_under
from tests.plugins import port_pack
from tests.workflows.support import Workspace, cached_output

STEPS = 4


def lockstep_euler(barrier: threading.Barrier) -> SamplerSpec:
    """Euler whose every step waits for the other job's same step (forces interleaving)."""

    def sample(model: Any, x: torch.Tensor, sigmas: torch.Tensor, *,
               callback: StepCallback | None = None, **kwargs: Any) -> torch.Tensor:
        def step(info: dict[str, Any]) -> None:
            barrier.wait()
            if callback is not None:
                callback(info)

        return sample_euler(model, x, sigmas, callback=step, **kwargs)

    return SamplerSpec("lockstep_euler", sample)


def engine_for(workspace: Workspace, barrier: threading.Barrier | None = None) -> Engine:
    folders = folders_under(workspace.base)
    registry = build_registry(folders)
    port_pack.register(registry)
    if barrier is not None:
        registry.samplers.add_sampler("lockstep_euler", lockstep_euler(barrier))
    return build_engine(registry, folders)


def txt2img(sampler: str, patched: bool, out: str = "out") -> dict[str, Any]:
    """The job; ``out`` names its KSampler node (the engine's history of cache keys is per node
    id, so jobs running at once name theirs apart to read their own outputs back)."""
    model = ["patch", 0] if patched else ["ckpt", 0]
    prompt: dict[str, Any] = {
        "ckpt": {"class_type": "CheckpointLoaderSimple",
                 "inputs": {"ckpt_name": "sd15.safetensors"}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
        "latent": {"class_type": "EmptyLatentImage",
                   "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        out: {"class_type": "KSampler", "inputs": {
            "model": model, "seed": 3, "steps": STEPS, "cfg": 7.0, "sampler_name": sampler,
            "scheduler": "normal", "positive": ["pos", 0], "negative": ["neg", 0],
            "latent_image": ["latent", 0], "denoise": 1.0}},
    }
    if patched:
        prompt["patch"] = {"class_type": "PackWeightDiff",
                           "inputs": {"model": ["ckpt", 0], "strength": 0.5}}
    return prompt


def sampled(engine: Engine, prompt: dict[str, Any], job: str, out: str = "out") -> torch.Tensor:
    result: JobOutcome = engine.execute(JobRequest(job, prompt, (out,)))
    assert result.ok, result.failure
    return cached_output(engine, prompt, out).samples


def test_patched_and_unpatched_jobs_interleave_without_seeing_each_other(
    workspace: Workspace,
) -> None:
    alone = engine_for(workspace)
    plain_alone = sampled(alone, txt2img("euler", False), "plain")
    patched_alone = sampled(engine_for(workspace), txt2img("euler", True), "patched")
    assert not torch.equal(plain_alone, patched_alone)  # the patch takes effect

    barrier = threading.Barrier(2, timeout=60)
    shared = engine_for(workspace, barrier)
    results: dict[str, torch.Tensor] = {}

    def job(name: str, patched: bool) -> None:
        try:
            out = f"out-{name}"
            results[name] = sampled(shared, txt2img("lockstep_euler", patched, out), name, out)
        except BaseException:
            barrier.abort()  # never leave the other job waiting
            raise

    threads = [threading.Thread(target=job, args=("plain", False)),
               threading.Thread(target=job, args=("patched", True))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert set(results) == {"plain", "patched"}, "a job failed (see the thread's traceback)"
    assert torch.equal(results["plain"], plain_alone)
    assert torch.equal(results["patched"], patched_alone)
    manager = shared.ports.models
    assert manager.patched_copies == 1  # type: ignore[attr-defined]
    assert manager.loads == 2  # type: ignore[attr-defined]  # UNet and text encoder, once each
    again = sampled(shared, txt2img("euler", True), "patched-again")  # cached outputs aside,
    assert torch.equal(again, patched_alone)  # the sampler reruns on the kept patched copy
    assert manager.patched_copies == 1  # type: ignore[attr-defined]
