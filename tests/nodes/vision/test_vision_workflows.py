"""CLIP vision, unCLIP, Revision and style model workflows end to end on tiny random models
(64x64, two steps): each conditions the image, and without it (strength 0, or no node) the
image is bit for bit the unconditioned one."""

from __future__ import annotations

from typing import Any

import torch

from diffusion.guidance.cond import Cond
from executor.jobs import JobRequest
from nodes.vision_payloads import ClipVision, ClipVisionOutput
from tests.nodes.models.support import ModelEnv, TinyStore
from tests.nodes.vision.tiny_files import (
    TINY_VISION,
    node,
    text_to_image,
    write_clip_vision,
    write_images,
    write_style,
)


def _fails(env: ModelEnv, prompt: dict[str, Any], source: str, slot: int = 0) -> str:
    """The failure message of a job probing ``source``'s output ``slot``."""
    result = env.engine.execute(JobRequest(f"fail-{source}", {
        **prompt, "p": node("Probe", value=[source, slot])}))
    assert not result.ok
    return str(result.failure)


def _unclip_prompt(strength: float | None, noise: float = 0.1) -> dict[str, Any]:
    prompt = {
        "c": node("unCLIPCheckpointLoader", ckpt_name="uc.safetensors"),
        "i": node("LoadImage", image="photo.png"),
        "e": node("CLIPVisionEncode", clip_vision=["c", 3], image=["i", 0], crop="center"),
        **text_to_image(["c", 0], ["c", 1], ["c", 2]),
    }
    if strength is not None:
        prompt["u"] = node("unCLIPConditioning", conditioning=["t1", 0],
                           clip_vision_output=["e", 0], strength=strength,
                           noise_augmentation=noise)
        prompt["s"]["inputs"]["positive"] = ["u", 0]
    return prompt


def test_unclip_checkpoint_workflow(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd21-unclip-h"), "checkpoints", "uc.safetensors")
    write_images(env.folders.input)
    baseline = env.probe(_unclip_prompt(None), "d")
    conditioned = env.probe(_unclip_prompt(1.0), "d")
    assert baseline.shape == conditioned.shape == (1, 64, 64, 3)
    assert (conditioned - baseline).abs().max() > 1e-3
    assert torch.equal(env.probe(_unclip_prompt(0.0), "d"), baseline)
    noisier = env.probe(_unclip_prompt(1.0, noise=0.9), "d")
    assert not torch.equal(noisier, conditioned)
    entries: tuple[Cond, ...] = env.probe(_unclip_prompt(1.5), "u")
    (entry,) = entries[0].unclip
    assert entry.strength == 1.5 and entry.image_embeds.shape == (1, 32)
    vision = env.probe(_unclip_prompt(None), "c", 3)
    assert isinstance(vision, ClipVision) and vision.handle.component == "clip_vision"


def test_unclip_loader_on_a_plain_checkpoint_blocks_clip_vision(env: ModelEnv,
                                                              tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "uc.safetensors")
    loader = {"c": node("unCLIPCheckpointLoader", ckpt_name="uc.safetensors")}
    assert env.probe(loader, "c", 0).family == "sd1"  # MODEL, CLIP and VAE as usual
    assert "has no CLIP vision model (not an unCLIP checkpoint)" in _fails(env, loader, "c", 3)


def _revision_prompt(strengths: tuple[float, float] | None) -> dict[str, Any]:
    prompt = {
        "c": node("CheckpointLoaderSimple", ckpt_name="xl.safetensors"),
        "v": node("CLIPVisionLoader", clip_name="vit-g.safetensors"),
        "i1": node("LoadImage", image="photo.png"),
        "i2": node("LoadImage", image="photo2.png"),
        "e1": node("CLIPVisionEncode", clip_vision=["v", 0], image=["i1", 0], crop="center"),
        "e2": node("CLIPVisionEncode", clip_vision=["v", 0], image=["i2", 0], crop="none"),
        **text_to_image(["c", 0], ["c", 1], ["c", 2]),
    }
    if strengths is not None:
        prompt["u1"] = node("unCLIPConditioning", conditioning=["t1", 0],
                            clip_vision_output=["e1", 0], strength=strengths[0],
                            noise_augmentation=0.0)
        prompt["u2"] = node("unCLIPConditioning", conditioning=["u1", 0],
                            clip_vision_output=["e2", 0], strength=strengths[1],
                            noise_augmentation=0.2)
        prompt["s"]["inputs"]["positive"] = ["u2", 0]
    return prompt


def test_revision_with_two_images_on_sdxl(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sdxl"), "checkpoints", "xl.safetensors")
    write_clip_vision(env.base / "models" / "clip_vision" / "vit-g.safetensors")
    write_images(env.folders.input)
    baseline = env.probe(_revision_prompt(None), "d")
    both = env.probe(_revision_prompt((1.0, 1.0)), "d")
    first_only = env.probe(_revision_prompt((1.0, 0.0)), "d")
    assert (both - baseline).abs().max() > 1e-3
    assert (both - first_only).abs().max() > 1e-4
    assert torch.equal(env.probe(_revision_prompt((0.0, 0.0)), "d"), baseline)
    entries: tuple[Cond, ...] = env.probe(_revision_prompt((1.0, 0.5)), "u2")
    assert [u.strength for u in entries[0].unclip] == [1.0, 0.5]
    encoded: ClipVisionOutput = env.probe(_revision_prompt(None), "e1")
    assert encoded.image_embeds.shape == (1, TINY_VISION.projection_dim)
    assert encoded["last_hidden_state"].shape == (1, TINY_VISION.num_positions, 64)


def _style_prompt(strength: float | None, strength_type: str = "multiply") -> dict[str, Any]:
    prompt = {
        "c": node("CheckpointLoaderSimple", ckpt_name="m.safetensors"),
        "v": node("CLIPVisionLoader", clip_name="vit-l.safetensors"),
        "m": node("StyleModelLoader", style_model_name="style.safetensors"),
        "i": node("LoadImage", image="photo.png"),
        "e": node("CLIPVisionEncode", clip_vision=["v", 0], image=["i", 0], crop="center"),
        **text_to_image(["c", 0], ["c", 1], ["c", 2]),
    }
    if strength is not None:
        prompt["a"] = node("StyleModelApply", conditioning=["t1", 0], style_model=["m", 0],
                           clip_vision_output=["e", 0], strength=strength,
                           strength_type=strength_type)
        prompt["s"]["inputs"]["positive"] = ["a", 0]
    return prompt


def test_style_model_workflow(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    write_clip_vision(env.base / "models" / "clip_vision" / "vit-l.safetensors")
    write_style(env.base / "models" / "style_models" / "style.safetensors")
    write_images(env.folders.input)
    baseline = env.probe(_style_prompt(None), "d")
    styled = env.probe(_style_prompt(1.0), "d")
    assert (styled - baseline).abs().max() > 1e-3
    text: tuple[Cond, ...] = env.probe(_style_prompt(None), "t1")
    zero: tuple[Cond, ...] = env.probe(_style_prompt(0.0), "a")
    tokens = text[0].cross_attn.shape[1]
    assert zero[0].cross_attn.shape[1] == tokens + 3  # one image, three style tokens
    assert torch.equal(zero[0].cross_attn[:, :tokens], text[0].cross_attn)
    assert torch.count_nonzero(zero[0].cross_attn[:, tokens:]) == 0
    # ComfyUI's attn_bias is a mask bias SD UNets ignore: the tokens stay at full strength
    assert torch.equal(env.probe(_style_prompt(0.5, "attn_bias"), "d"), styled)


def test_style_width_mismatch_names_both_widths(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "checkpoints", "m.safetensors")
    write_clip_vision(env.base / "models" / "clip_vision" / "vit-l.safetensors")
    write_style(env.base / "models" / "style_models" / "style.safetensors", context=48)
    write_images(env.folders.input)
    message = _fails(env, _style_prompt(1.0), "a")
    assert "48-wide tokens; the conditioning is 64-wide" in message


def test_loaders_refuse_other_files_by_name(env: ModelEnv, tiny: TinyStore) -> None:
    env.place(tiny.path("sd15"), "clip_vision", "not-vision.safetensors")
    vision = {"v": node("CLIPVisionLoader", clip_name="not-vision.safetensors")}
    assert "holds no CLIP vision model (components ['clip_l', 'unet', 'vae'])" in \
        _fails(env, vision, "v")
    env.place(tiny.path("sd15"), "style_models", "not-style.safetensors")
    style = {"m": node("StyleModelLoader", style_model_name="not-style.safetensors")}
    assert "is not a style model" in _fails(env, style, "m")
