"""Cheap progress previews: a linear latent→RGB projection per model family (no VAE).

ComfyUI's ``latent2rgb`` previewer: each latent channel contributes a fixed RGB vector (its
``latent_rgb_factors``, plus a bias for SDXL), applied to the model-space x0 prediction of the
first sample, then ``(rgb + 1) / 2`` clamped to [0, 1] and quantised to 8 bits. A 64×64 latent
costs well under a millisecond. The projection has one pixel per latent cell; like ComfyUI's
previewer, :func:`preview_frame` asks for it to be shown fitted into
``MAX_PREVIEW_RESOLUTION`` (upscaled by whoever encodes it, only for the previews kept).
"""

from __future__ import annotations

from types import MappingProxyType

import torch
from PIL import Image
from torch import Tensor

# ComfyUI comfy/latent_formats.py: rows are latent channels, columns R, G, B.
_SD15_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
_SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
_SDXL_BIAS = (0.1084, -0.0175, -0.0011)
_NO_BIAS = (0.0, 0.0, 0.0)
MAX_PREVIEW_RESOLUTION = 512  # ComfyUI's --preview-size default

LATENT_RGB: MappingProxyType[str, tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]] = (
    MappingProxyType({
        "sd1": (_SD15_FACTORS, _NO_BIAS),
        "sd2": (_SD15_FACTORS, _NO_BIAS),
        "sdxl": (_SDXL_FACTORS, _SDXL_BIAS),
        "sdxl_refiner": (_SDXL_FACTORS, _SDXL_BIAS),
    })
)
"""Family -> (factors (C, 3), bias (3,))."""


def latent_to_rgb(x0: Tensor, family: str) -> Tensor:
    """The first sample of ``x0`` (B, C, h, w), model space, as uint8 RGB (h, w, 3) on the CPU."""
    if family not in LATENT_RGB:
        raise ValueError(f"no latent→RGB factors for family {family!r}; "
                         f"choose one of {sorted(LATENT_RGB)}")
    if x0.ndim != 4:
        raise ValueError(f"x0 must be (B, C, h, w), got shape {tuple(x0.shape)}")
    factors, bias = LATENT_RGB[family]
    if x0.shape[1] != len(factors):
        raise ValueError(f"family {family!r} previews {len(factors)} latent channels, "
                         f"got {x0.shape[1]}")
    first = x0[0].detach().float().cpu().movedim(0, -1)  # (h, w, C)
    rgb = torch.nn.functional.linear(first, torch.tensor(factors).T, torch.tensor(bias))
    return ((rgb + 1.0) / 2.0).clamp(0, 1).mul(255).to(torch.uint8)  # (h, w, 3)


def preview_image(x0: Tensor, family: str) -> Image.Image:
    """:func:`latent_to_rgb` as a PIL image (one pixel per latent cell)."""
    return Image.fromarray(latent_to_rgb(x0, family).numpy())  # mode RGB


def preview_frame(x0: Tensor, family: str) -> tuple[str, Image.Image, int]:
    """ComfyUI's previewer result: ``("JPEG", image, MAX_PREVIEW_RESOLUTION)``, the image to be
    fitted (up or down) into that size for display."""
    return "JPEG", preview_image(x0, family), MAX_PREVIEW_RESOLUTION
