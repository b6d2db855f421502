"""Every model patch node on a tiny SD1.5 checkpoint through the engine: the patched MODEL
changes the sampled latent, the input MODEL is never changed (a sampler using it gives
bit-identical latents before and after), the patch node's settings key its cache entry, patches
compose (FreeU + SAG + RescaleCFG equal the same hooks applied by hand), and the attention
multipliers are weight patches."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from diffusion import model_patches as mp
from diffusion.guidance import GuidedModel
from diffusion.patching import WeightScale
from executor.jobs import JobRequest
from nodes.payloads import Clip, DiffusionModel, Latent
from tests.diffusion.ksampler_recipe import ksample
from tests.nodes.models.support import ModelEnv, encode, loader

SAMPLER = {"seed": 3, "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
           "denoise": 1.0}
BASE: dict[str, Any] = {
    "ckpt": loader("sd15.safetensors"),
    "pos": encode("a red fox", ["ckpt", 1]),
    "neg": encode("blurry", ["ckpt", 1]),
    "empty": encode("", ["ckpt", 1]),
    "latent": {"class_type": "EmptyLatentImage",
               "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "base": {"class_type": "KSampler", "inputs": {
        "model": ["ckpt", 0], "positive": ["pos", 0], "negative": ["neg", 0],
        "latent_image": ["latent", 0], **SAMPLER}},
}
PATCHES: dict[str, dict[str, Any]] = {
    "FreeU": {"b1": 1.1, "b2": 1.2, "s1": 0.9, "s2": 0.2},
    "FreeU_V2": {"b1": 1.3, "b2": 1.4, "s1": 0.9, "s2": 0.2},
    "HyperTile": {"tile_size": 32, "swap_size": 2, "max_depth": 0, "scale_depth": False},
    "PatchModelAddDownscale": {"block_number": 1, "downscale_factor": 2.0,
                               "start_percent": 0.0, "end_percent": 0.35,
                               "downscale_after_skip": True, "downscale_method": "bicubic",
                               "upscale_method": "bicubic"},
    "TomePatchModel": {"ratio": 0.5},
    "PerturbedAttentionGuidance": {"scale": 3.0},
    "Epsilon Scaling": {"scaling_factor": 1.05},
    "RescaleCFG": {"multiplier": 0.7},
    "CFGNorm": {"strength": 0.9},
    "CFGZeroStar": {},
    "TCFG": {},
    "APG": {"eta": 1.0, "norm_threshold": 5.0, "momentum": 0.5},
    "Mahiro": {},
    "FreSca": {"scale_low": 1.0, "scale_high": 1.5, "freq_cutoff": 2},
    "SelfAttentionGuidance": {"scale": 0.5, "blur_sigma": 2.0},
    "PerpNeg": {"empty_conditioning": ["empty", 0], "neg_scale": 1.0},
    "UNetSelfAttentionMultiply": {"q": 1.0, "k": 1.0, "v": 2.0, "out": 1.0},
    "UNetCrossAttentionMultiply": {"q": 1.0, "k": 1.0, "v": 1.0, "out": 0.5},
    "ModelComputeDtype": {"dtype": "bf16"},
}


def patched_prompt(*chain: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """BASE plus the patch nodes of ``chain`` in order and a KSampler "out" on the last."""
    prompt = dict(BASE)
    model = ["ckpt", 0]
    for index, (kind, inputs) in enumerate(chain):
        prompt[f"p{index}"] = {"class_type": kind, "inputs": {"model": model, **inputs}}
        model = [f"p{index}", 0]
    prompt["out"] = {"class_type": "KSampler",
                     "inputs": {**BASE["base"]["inputs"], "model": model}}
    return prompt


def samples(env: ModelEnv, prompt: dict[str, Any], node: str, **kwargs: Any) -> torch.Tensor:
    latent = env.probe(prompt, node) if not kwargs else _forced(env, prompt, node, **kwargs)
    assert isinstance(latent, Latent)
    return latent.samples


def _forced(env: ModelEnv, prompt: dict[str, Any], node: str, **kwargs: Any) -> Latent:
    from tests.nodes.images.helpers import Probe

    Probe.seen = []
    env.run({**prompt, "probe": {"class_type": "Probe", "inputs": {"value": [node, 0]}}},
            **kwargs)
    (value,) = Probe.seen
    assert isinstance(value, Latent)
    return value


@pytest.mark.parametrize("kind", sorted(PATCHES))
def test_a_patch_node_changes_the_image_and_never_its_input(patch_env: ModelEnv,
                                                            kind: str) -> None:
    before = samples(patch_env, BASE, "base")  # cached by the module's first test
    prompt = patched_prompt((kind, PATCHES[kind]))
    out = samples(patch_env, prompt, "out")
    assert out.shape == before.shape and torch.isfinite(out).all()
    assert not torch.allclose(out, before, atol=1e-3)
    model = patch_env.probe(prompt, "ckpt")
    assert isinstance(model, DiffusionModel) and not model.hooks and not model.patches
    again = samples(patch_env, prompt, "base", force=frozenset({"base"}))
    assert torch.equal(again, before)  # the unpatched MODEL samples as before


def test_settings_key_the_patch_nodes_cache_entry(patch_env: ModelEnv) -> None:
    first = patched_prompt(("FreeU", PATCHES["FreeU"]))
    patch_env.run(first, targets=("out",))
    same = patch_env.run(first, targets=("out",))
    assert {"p0", "out"} <= set(same.cached)
    changed = patched_prompt(("FreeU", {**PATCHES["FreeU"], "b2": 1.5}))  # tiny: b2 level
    rerun = patch_env.run(changed, targets=("out",))
    assert {"p0", "out"} <= set(rerun.executed) and "ckpt" in rerun.cached
    assert not torch.equal(samples(patch_env, changed, "out"), samples(patch_env, first, "out"))


def test_patch_nodes_compose_as_their_hooks_do(patch_env: ModelEnv) -> None:
    chain = (("FreeU", PATCHES["FreeU"]), ("SelfAttentionGuidance", PATCHES[
        "SelfAttentionGuidance"]), ("RescaleCFG", PATCHES["RescaleCFG"]))
    prompt = patched_prompt(*chain)
    out = samples(patch_env, prompt, "out")
    model = patch_env.probe(prompt, "ckpt")
    positive, negative = patch_env.probe(prompt, "pos"), patch_env.probe(prompt, "neg")
    hooks = mp.RescaleCFG(0.7).add_to(mp.SelfAttentionGuidance(0.5, 2.0).add_to(
        mp.FreeU(1.1, 1.2, 0.9, 0.2).add_to(model.hooks)))
    with patch_env.manager.use(model.unet) as unet:
        guided = GuidedModel.from_unet(unet, model.model_sampling, model.latent_format,
                                       hooks=hooks)
        by_hand = ksample(guided, torch.zeros(1, 4, 8, 8), positive, negative, seed=3,
                          cfg=5.0, sampler_name="euler", steps=2)
    assert torch.equal(out, by_hand)
    composed = patch_env.probe(prompt, "p2")
    assert composed.hooks.block_outputs[0] == mp.FreeU(1.1, 1.2, 0.9, 0.2)
    assert composed.hooks.cfg == mp.RescaleCFG(0.7) and composed.hooks.needs_uncond


def test_attention_multipliers_are_weight_patches(patch_env: ModelEnv) -> None:
    prompt = patched_prompt(("UNetSelfAttentionMultiply", PATCHES["UNetSelfAttentionMultiply"]))
    model = patch_env.probe(prompt, "p0")
    scales = list(model.patches)
    assert scales and all(isinstance(p, WeightScale) for p in scales)
    assert {p.key.rsplit(".", 2)[-2] for p in scales} == {"to_v"}
    assert all(".attn1." in p.key and p.factors == (2.0,) for p in scales)
    ones = patched_prompt(("UNetCrossAttentionMultiply",
                           {"q": 1.0, "k": 1.0, "v": 1.0, "out": 1.0}))
    assert not patch_env.probe(ones, "p0").patches  # factors of 1 patch nothing


def test_clip_attention_multiply_scales_every_encoder(patch_env: ModelEnv) -> None:
    def prompt(**factors: float) -> dict[str, Any]:
        return {"ckpt": loader("sd15.safetensors"),
                "mul": {"class_type": "CLIPAttentionMultiply",
                        "inputs": {"clip": ["ckpt", 1], **factors}},
                "pos": encode("a red fox", ["mul", 0]),
                "plain": encode("a red fox", ["ckpt", 1])}

    scaled = prompt(q=1.0, k=2.0, v=1.0, out=1.0)
    clip = patch_env.probe(scaled, "mul")
    assert isinstance(clip, Clip)
    keys = {p.key for e in clip.encoders for p in e.patches}
    assert keys and all(k.endswith(("k_proj.weight", "k_proj.bias")) for k in keys)
    changed, plain = patch_env.probe(scaled, "pos"), patch_env.probe(scaled, "plain")
    assert not torch.allclose(changed[0].cross_attn, plain[0].cross_attn)
    neutral = prompt(q=1.0, k=1.0, v=1.0, out=1.0)
    same = patch_env.probe(neutral, "pos")
    assert torch.equal(same[0].cross_attn, plain[0].cross_attn)
    original = patch_env.probe(scaled, "ckpt", 1)
    assert isinstance(original, Clip) and not any(e.patches for e in original.encoders)


def test_differential_diffusion_needs_a_noise_mask_to_act(patch_env: ModelEnv) -> None:
    plain = samples(patch_env, BASE, "base")
    prompt = patched_prompt(("DifferentialDiffusion", {"strength": 1.0}))
    assert torch.equal(samples(patch_env, prompt, "out"), plain)
    masked = dict(prompt)
    masked["mask"] = {"class_type": "SolidMask", "inputs": {"value": 0.5, "width": 64,
                                                             "height": 64}}
    masked["noised"] = {"class_type": "SetLatentNoiseMask",
                        "inputs": {"samples": ["latent", 0], "mask": ["mask", 0]}}
    for node in ("out", "base"):
        masked[node] = {**masked[node],
                        "inputs": {**masked[node]["inputs"], "latent_image": ["noised", 0]}}
    assert not torch.equal(samples(patch_env, masked, "out"), samples(patch_env, masked, "base"))


def test_compute_dtype_default_is_the_model_itself(patch_env: ModelEnv) -> None:
    prompt = patched_prompt(("ModelComputeDtype", {"dtype": "default"}))
    assert patch_env.probe(prompt, "p0") is patch_env.probe(prompt, "ckpt")


def test_torch_compile_cudagraphs_needs_a_cuda_device(patch_env: ModelEnv) -> None:
    prompt = patched_prompt(("TorchCompileModel", {"backend": "cudagraphs"}))
    model = patch_env.probe(prompt, "p0")
    assert isinstance(model.hooks.unet_wrappers[0], mp.TorchCompile)
    result = patch_env.engine.execute(JobRequest("cudagraphs", prompt, ("out",)))
    assert not result.ok and "needs a CUDA device" in str(result.failure)

