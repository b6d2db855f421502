"""A plugin pack outside ``nodes/`` reaches model files, model folders, the sampler table and
the GUIDER contract through the ports alone, and SamplerCustomAdvanced runs its guider and
sampler."""

from __future__ import annotations

from typing import Any

import torch

from executor.engine import Engine
from executor.jobs import JobOutcome, JobRequest
from latentgraph.app import build_engine, build_registry, folders_under
from tests.plugins import port_pack
from tests.workflows.support import Workspace, cached_output

CKPT = "sd15.safetensors"


def pack_engine(workspace: Workspace) -> Engine:
    folders = folders_under(workspace.base)
    registry = build_registry(folders)
    port_pack.register(registry)
    return build_engine(registry, folders)


def run(engine: Engine, prompt: dict[str, Any], *targets: str) -> JobOutcome:
    result = engine.execute(JobRequest(f"job-{id(prompt)}", prompt, targets or None))
    assert result.ok, result.failure
    return result


def test_the_pack_opens_a_model_file_and_lists_a_folder(workspace: Workspace) -> None:
    engine = pack_engine(workspace)
    listing = engine.ports.model_files.files("checkpoints")
    info = engine.registry.node_info("PackModelProbe")
    assert info["input"]["required"]["ckpt_name"][0] == listing
    assert CKPT in listing
    prompt = {"1": {"class_type": "PackModelProbe", "inputs": {"ckpt_name": CKPT}},
              "2": {"class_type": "PackListFolder", "inputs": {"folder": "checkpoints"}}}
    outputs = run(engine, prompt).outputs
    assert {"unet", "vae"} <= set(outputs["1"]["components"])
    assert outputs["1"]["vae_parameters"][0] > 0
    assert outputs["2"]["files"] == listing
    assert engine.ports.models.loads == 1  # type: ignore[attr-defined]  # the VAE, once


def test_the_pack_sampler_and_scheduler_are_offered_by_name(workspace: Workspace) -> None:
    info = pack_engine(workspace).registry.object_info()
    samplers = info["KSamplerSelect"]["input"]["required"]["sampler_name"][0]
    schedulers = info["BasicScheduler"]["input"]["required"]["scheduler"][0]
    assert samplers[0] == "euler" and samplers[-1] == port_pack.PACK_SAMPLER
    assert schedulers[0] == "simple" and schedulers[-1] == port_pack.PACK_SCHEDULER
    ksampler = info["KSampler"]["input"]["required"]["sampler_name"][0]
    assert ksampler == samplers


def custom_sampling(guider: dict[str, Any], sampler: str) -> dict[str, Any]:
    """Loader, prompts, the given guider node as "g", and SamplerCustomAdvanced as "out"."""
    return {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
        "g": guider,
        "sampler": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": sampler}},
        "sigmas": {"class_type": "BasicScheduler", "inputs": {
            "model": ["ckpt", 0], "scheduler": port_pack.PACK_SCHEDULER, "steps": 4,
            "denoise": 1.0}},
        "noise": {"class_type": "RandomNoise", "inputs": {"noise_seed": 5}},
        "latent": {"class_type": "EmptyLatentImage",
                   "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "out": {"class_type": "SamplerCustomAdvanced", "inputs": {
            "noise": ["noise", 0], "guider": ["g", 0], "sampler": ["sampler", 0],
            "sigmas": ["sigmas", 0], "latent_image": ["latent", 0]}},
    }


CFG_1 = {"class_type": "CFGGuider", "inputs": {
    "model": ["ckpt", 0], "positive": ["pos", 0], "negative": ["neg", 0], "cfg": 1.0}}
POSITIVE_ONLY = {"class_type": "PackPositiveGuider",
                 "inputs": {"model": ["ckpt", 0], "positive": ["pos", 0]}}


def sampled(engine: Engine, guider: dict[str, Any], sampler: str) -> torch.Tensor:
    prompt = custom_sampling(guider, sampler)
    run(engine, prompt, "out")
    return cached_output(engine, prompt, "out").samples


def test_sampler_custom_advanced_runs_the_pack_guider_and_sampler(workspace: Workspace) -> None:
    engine = pack_engine(workspace)
    reference = sampled(engine, CFG_1, "euler")
    pack_guider = sampled(engine, POSITIVE_ONLY, "euler")
    pack_sampler = sampled(engine, CFG_1, port_pack.PACK_SAMPLER)
    both = sampled(engine, POSITIVE_ONLY, port_pack.PACK_SAMPLER)
    assert reference.shape == (1, 4, 8, 8) and torch.isfinite(reference).all()
    # cfg 1 skips the negative side, so the positive-only guider is the same computation;
    # the pack's Euler loop is the textbook one the built-in euler runs.
    assert torch.equal(pack_guider, reference)
    assert torch.equal(pack_sampler, reference)
    assert torch.equal(both, reference)
    seven = {**CFG_1, "inputs": {**CFG_1["inputs"], "cfg": 7.0}}
    assert not torch.equal(sampled(engine, seven, port_pack.PACK_SAMPLER), reference)
