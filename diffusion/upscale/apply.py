"""Upscaling (B, H, W, C) pixel batches with an :class:`UpscaleModel`, as ComfyUI's
ImageUpscaleWithModel does: channels first on the compute device, tiles of 512 with an overlap
of 32 (halved on out-of-memory down to 128), output on the CPU clamped to [0, 1].

An RGBA batch given to an RGB model is upscaled without its alpha, and the alpha is resized
bilinearly to the output size and appended (as current ComfyUI releases do; v0.3.64 has no
alpha path and fails on RGBA).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from diffusion.upscale.model import UpscaleModel
from diffusion.upscale.tiling import OVERLAP, TILE, TileCallback, tiled_scale_with_fallback


def _split_alpha(pixels: Tensor, model: UpscaleModel) -> tuple[Tensor, Tensor | None]:
    channels = pixels.shape[-1]
    if channels == model.input_channels:
        return pixels, None
    if channels == 4 and model.input_channels == 3:
        return pixels[..., :3], pixels[..., 3:4]  # (B, H, W, 3), (B, H, W, 1)
    raise ValueError(f"image has {channels} channels but upscale model {model.name!r} "
                     f"({model.architecture}) takes {model.input_channels}")


def upscale_pixels(model: UpscaleModel, pixels: Tensor, device: torch.device, *,
                   tile: int = TILE, overlap: int = OVERLAP,
                   on_tile: TileCallback | None = None,
                   on_oom: Callable[[int], None] | None = None) -> Tensor:
    """(B, H, W, C) in [0, 1] → (B, H·s, W·s, C) float32 on the CPU, clamped to [0, 1]."""
    if pixels.dim() != 4:
        raise ValueError(f"expected pixels (B, H, W, C), got {tuple(pixels.shape)}")
    rgb, alpha = _split_alpha(pixels, model)
    descriptor = model.on(device)
    samples = rgb.movedim(-1, 1).to(device, torch.float32)  # (B, C, H, W)
    upscaled = tiled_scale_with_fallback(
        samples, descriptor, scale=model.scale, out_channels=model.output_channels,
        tile=tile, overlap=overlap, out_device=torch.device("cpu"), on_tile=on_tile,
        on_oom=on_oom)  # (B, C', H·s, W·s)
    out = torch.clamp(upscaled.movedim(1, -1), 0.0, 1.0)  # (B, H·s, W·s, C')
    if alpha is None:
        return out
    resized = torch.nn.functional.interpolate(
        alpha.movedim(-1, 1).to(out), size=out.shape[1:3], mode="bilinear")  # (B, 1, H·s, W·s)
    return torch.cat((out, resized.movedim(1, -1)), dim=-1)  # (B, H·s, W·s, 4)
