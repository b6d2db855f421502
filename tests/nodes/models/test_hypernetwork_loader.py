"""HypernetworkLoader through the engine: the file is picked from models/hypernetworks, the
sampled latent changes, strength 0 is the base model, and the widths it covers are noted."""

from __future__ import annotations

from typing import Any

import torch

from executor.jobs import JobRequest
from tests.diffusion.hypernetwork.test_hypernetwork import hypernetwork_file
from tests.workflows.support import Workspace, cached_output, tiny_checkpoints, workspace

__all__ = ["tiny_checkpoints", "workspace"]


def prompt(strength: float) -> dict[str, Any]:
    return {
        "ckpt": {"class_type": "CheckpointLoaderSimple",
                 "inputs": {"ckpt_name": "sd15.safetensors"}},
        "hn": {"class_type": "HypernetworkLoader", "inputs": {
            "model": ["ckpt", 0], "hypernetwork_name": "net.pt", "strength": strength}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
        "latent": {"class_type": "EmptyLatentImage",
                   "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "out": {"class_type": "KSampler", "inputs": {
            "model": ["hn", 0], "seed": 1, "steps": 2, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["pos", 0], "negative": ["neg", 0],
            "latent_image": ["latent", 0], "denoise": 1.0}},
    }


def test_hypernetwork_loader_patches_the_sampled_model(workspace: Workspace) -> None:
    engine = workspace.engine()
    handles = engine.ports.models.open(workspace.base / "models/checkpoints/sd15.safetensors")
    with engine.ports.models.use(handles["unet"]) as unet:
        widths = {m.to_k.in_features for n, m in unet.named_modules() if n.endswith("attn2")}
    (width,) = widths  # the text encoder's width: every cross-attention sees it
    (workspace.base / "models" / "hypernetworks").mkdir(parents=True)
    torch.save(hypernetwork_file(widths=(width,)),
               workspace.base / "models" / "hypernetworks" / "net.pt")
    results = {}
    for strength in (0.0, 1.0):
        run = engine.execute(JobRequest(f"s{strength}", prompt(strength), ("out",)))
        assert run.ok, run.failure
        results[strength] = (run, cached_output(engine, prompt(strength), "out").samples)
    base = prompt(0.0)
    base["out"] = {**base["out"], "inputs": {**base["out"]["inputs"], "model": ["ckpt", 0]}}
    assert engine.execute(JobRequest("base", base, ("out",))).ok
    assert torch.equal(results[0.0][1], cached_output(engine, base, "out").samples)
    assert not torch.equal(results[1.0][1], results[0.0][1])
    assert results[1.0][0].notes["hn"] == {"hypernetwork_widths": [width]}
