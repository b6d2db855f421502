"""ImageQuantize (ComfyUI's ``comfy_extras/nodes_post_processing.py``): Pillow's palette
quantization, with no dithering, Floyd–Steinberg, or ordered (Bayer) dithering.

As ComfyUI does: pixels are truncated to 8 bits (``(x · 255)`` cast to uint8, not rounded;
values outside [0, 1] are clamped first, where ComfyUI's cast would wrap), a palette of
``colors`` colours is chosen by ``Image.quantize`` (median cut), then the image is mapped onto
it. Bayer dithering adds a threshold matrix scaled by ``2 · 256 / palette size``
before an undithered mapping. An alpha channel, which ComfyUI's node cannot take, is kept
unchanged here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from PIL import Image

from nodes.api import IMAGE, Combo, Int, Link, Node, Output, RunContext
from nodes.images.batch import check_image

DITHERS: tuple[str, ...] = ("none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8",
                            "bayer-16")


def bayer_matrix(order: int) -> np.ndarray:
    """The normalized (order × order) Bayer threshold matrix, entries in (-0.5, 0.5)."""
    matrix = np.zeros((1, 1), dtype=np.float32)  # float32 throughout, as ComfyUI
    for level in range(1, int(math.log2(order)) + 1):
        q = 4 ** level
        m = q * matrix
        matrix = np.block([[m - 1.5, m + 0.5], [m + 1.5, m - 0.5]]) / q
    return matrix


def _bayer(image: Image.Image, palette: Image.Image, order: int) -> Image.Image:
    colors = len(palette.getpalette() or []) // 3
    threshold = (2 * 256 / colors) * bayer_matrix(order) + 0.5  # (n, n)
    pixels = np.asarray(image, dtype=np.float32)  # (H, W, 3)
    reps = (math.ceil(pixels.shape[0] / order), math.ceil(pixels.shape[1] / order))
    tiled = np.tile(threshold, reps)[:pixels.shape[0], :pixels.shape[1], None]
    shifted = np.clip(pixels + tiled, 0, 255).astype(np.uint8)
    return Image.fromarray(shifted).quantize(palette=palette, dither=Image.Dither.NONE)


def quantize_rgb(rgb: torch.Tensor, colors: int, dither: str) -> torch.Tensor:
    """One (H, W, 3) image in [0, 1] → its quantized (H, W, 3) float32."""
    pixels = (rgb.clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()  # truncated, as ComfyUI
    image = Image.fromarray(pixels)  # RGB
    palette = image.quantize(colors=colors)
    if dither == "none":
        quantized = image.quantize(palette=palette, dither=Image.Dither.NONE)
    elif dither == "floyd-steinberg":
        quantized = image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
    elif dither.startswith("bayer-"):
        quantized = _bayer(image, palette, int(dither.split("-")[1]))
    else:
        raise ValueError(f"ImageQuantize input 'dither': {dither!r} is unknown; choose one of "
                         f"{DITHERS}")
    return torch.from_numpy(np.asarray(quantized.convert("RGB"), dtype=np.float32) / 255)


class ImageQuantize(Node):
    """Reduces each image to a palette of `colors` colours, optionally dithered."""

    category = "image/postprocessing"
    inputs = (
        Link("image", IMAGE, tooltip="The images to quantize."),
        Int("colors", default=256, min=1, max=256, step=1, tooltip="Palette size."),
        Combo("dither", choices=DITHERS, tooltip="How the palette error is spread."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, colors: int,
            dither: str) -> tuple[Any, ...]:
        check_image("ImageQuantize", "image", image)
        if image.shape[-1] not in (3, 4):
            raise ValueError(f"ImageQuantize input 'image': expected RGB or RGBA, got "
                             f"{image.shape[-1]} channels")
        result = image.clone()
        for b in range(image.shape[0]):
            ctx.check_cancelled()
            result[b, ..., :3] = quantize_rgb(image[b, ..., :3], colors, dither).to(result)
        return (result,)
