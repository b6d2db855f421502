"""Prompt builders for the hook tests: a tiny SD1.5 checkpoint, a LoRA written for it, and the
nodes of the hook family as API-format dicts."""

from __future__ import annotations

from typing import Any

from tests.nodes.models.support import ModelEnv, TinyStore, encode, loader
from tests.nodes.models.test_lora_loader import write_lora

CKPT = "sd15.safetensors"
LORA = "a.safetensors"
Link = list[Any]


def setup(env: ModelEnv, tiny: TinyStore) -> dict[str, Any]:
    """Places the checkpoint, writes the LoRA; returns the loader and two prompts."""
    env.place(tiny.path("sd15"), "checkpoints", CKPT)
    write_lora(env.engine, env.base / "models" / "loras", LORA, 5)
    return {"ckpt": loader(CKPT), "pos": encode("a red fox", ["ckpt", 1]),
            "neg": encode("", ["ckpt", 1])}


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def hook_lora(strength_model: float, strength_clip: float) -> dict[str, Any]:
    return node("CreateHookLora", lora_name=LORA, strength_model=strength_model,
                strength_clip=strength_clip)


def keyframe(strength: float, start: float, prev: Link | None = None) -> dict[str, Any]:
    extra = {} if prev is None else {"prev_hook_kf": prev}
    return node("CreateHookKeyframe", strength_mult=strength, start_percent=start, **extra)


def latent(size: int = 64) -> dict[str, Any]:
    return node("EmptyLatentImage", width=size, height=size, batch_size=1)


def ksampler(model: Link, positive: Link, negative: Link, *, steps: int, cfg: float,
             seed: int = 1) -> dict[str, Any]:
    return node("KSampler", model=model, seed=seed, steps=steps, cfg=cfg, sampler_name="euler",
                scheduler="normal", positive=positive, negative=negative,
                latent_image=["latent", 0], denoise=1.0)


def ksampler_window(model: Link, positive: Link, negative: Link, latent_image: Link, *,
                    steps: int, cfg: float, start: int, end: int, first: bool,
                    seed: int = 1) -> dict[str, Any]:
    return node("KSamplerAdvanced", model=model, add_noise="enable" if first else "disable",
                noise_seed=seed, steps=steps, cfg=cfg, sampler_name="euler",
                scheduler="normal", positive=positive, negative=negative,
                latent_image=latent_image, start_at_step=start, end_at_step=end,
                return_with_leftover_noise="enable" if first else "disable")
