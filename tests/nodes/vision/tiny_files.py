"""Tiny random-weight CLIP vision, IP-Adapter and style model files (every parameter
randomised) in the real key layouts, and the workflow pieces the vision and IP-Adapter node
tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from diffusion.checkpoint_maker import checkpoint_layout
from diffusion.ipadapter import IPAdapterConfig, IPAdapterModel, cross_attention_slots
from diffusion.ipadapter.model import ResamplerConfig
from diffusion.style import StyleAdapter, StyleConfig
from diffusion.vision import CLIPVisionModel, VisionConfig
from tests.diffusion.conftest import randomize_parameters

# width 64 / 64-wide head; projection 64: SDXL-tiny's pooled width (Revision)
TINY_VISION = VisionConfig(width=64, layers=2, heads=1, mlp_width=128, projection_dim=64,
                           patch_size=8, image_size=32, activation="gelu")
SAMPLER = {"seed": 3, "steps": 2, "cfg": 4.0, "sampler_name": "euler", "scheduler": "normal",
           "denoise": 1.0}


def _state(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    randomize_parameters(module, seed)
    return {k: v.detach().contiguous() for k, v in module.state_dict().items()}


def write_clip_vision(path: Path, cfg: VisionConfig = TINY_VISION, seed: int = 1) -> Path:
    """transformers layout, with the old position_ids buffer real files carry."""
    state = _state(CLIPVisionModel(cfg), seed)
    state["vision_model.embeddings.position_ids"] = torch.arange(cfg.num_positions)[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def tiny_adapter_config(kind: str, arch: str = "sd15") -> IPAdapterConfig:
    unet = checkpoint_layout(arch, tiny=True).unet  # type: ignore[arg-type]
    layers = tuple((s.key, s.inner) for s in cross_attention_slots(unet))
    if kind == "base":
        return IPAdapterConfig("base", TINY_VISION.projection_dim, unet.context_dim, 4, layers)
    resampler = ResamplerConfig(dim=64, depth=2, heads=1, num_queries=4, ff_mult=4)
    return IPAdapterConfig("plus", TINY_VISION.width, unet.context_dim, 4, layers, resampler)


def write_ipadapter(path: Path, kind: str, seed: int = 2, arch: str = "sd15") -> Path:
    """``.bin``: the original nested dicts; ``.safetensors``: prefixed keys."""
    state = _state(IPAdapterModel(tiny_adapter_config(kind, arch)), seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".bin":
        nested: dict[str, dict[str, torch.Tensor]] = {"image_proj": {}, "ip_adapter": {}}
        for key, value in state.items():
            part, _, rest = key.partition(".")
            nested[part][rest] = value
        torch.save(nested, path)
    else:
        save_file(state, str(path))
    return path


def write_style(path: Path, context: int = 64, seed: int = 3) -> Path:
    config = StyleConfig(width=TINY_VISION.width, context_dim=context, layers=2, num_token=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(_state(StyleAdapter(config), seed), str(path))
    return path


def write_images(folder: Path) -> None:
    """photo.png and photo2.png (64x64 gradients) and half.png (alpha: left half opaque, so
    LoadImage's mask is 1 on the right half)."""
    ys, xs = np.mgrid[0:64, 0:64]
    rgb = np.stack([xs * 4, ys * 4, (xs + ys) * 2], axis=-1).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(folder / "photo.png")
    Image.fromarray(rgb[::-1, ::-1].copy()).save(folder / "photo2.png")
    alpha = np.full((64, 64, 1), 255, dtype=np.uint8)
    alpha[:, 32:] = 0
    Image.fromarray(np.concatenate([rgb, alpha], axis=-1)).save(folder / "half.png")


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def text_to_image(model: list[Any], clip: list[Any], vae: list[Any],
                  positive: list[Any] | None = None) -> dict[str, Any]:
    """Prompt nodes t1 (positive text), t2 (negative), l (latent), s (sampler), d (decode)."""
    return {
        "t1": node("CLIPTextEncode", text="a cat", clip=clip),
        "t2": node("CLIPTextEncode", text="", clip=clip),
        "l": node("EmptyLatentImage", width=64, height=64, batch_size=1),
        "s": node("KSampler", model=model, positive=positive or ["t1", 0],
                  negative=["t2", 0], latent_image=["l", 0], **SAMPLER),
        "d": node("VAEDecode", samples=["s", 0], vae=vae),
    }
