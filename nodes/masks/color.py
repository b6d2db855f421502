"""ImageColorToMask: 1 where a pixel has exactly one 24-bit colour."""

from __future__ import annotations

from typing import Any

import torch

from nodes.api import IMAGE, MASK, Int, Link, Node, Output, RunContext

MAX_COLOR = 0xFFFFFF


def color_mask(image: torch.Tensor, color: int) -> torch.Tensor:
    """(B, H, W) mask of ``image`` (B, H, W, C): each of R, G, B clamped to [0, 1] and rounded
    to 8 bits (half to even), packed as 0xRRGGBB and compared with ``color``."""
    levels = (torch.clamp(image, 0, 1.0) * 255.0).round().to(torch.int)  # (B, H, W, C)
    packed = (levels[..., 0] << 16) + (levels[..., 1] << 8) + levels[..., 2]  # (B, H, W)
    return (packed == color).float()


class ImageColorToMask(Node):
    """Makes a mask that is 1 where the image has exactly the given colour (0xRRGGBB, compared
    after rounding to 8 bits per channel) and 0 elsewhere."""

    category = "mask"
    inputs = (
        Link("image", IMAGE, tooltip="The image."),
        Int("color", default=0, min=0, max=MAX_COLOR, step=1,
            tooltip="The colour as one number: red × 65536 + green × 256 + blue."),
    )
    outputs = (Output(MASK),)

    def run(self, ctx: RunContext, image: torch.Tensor, color: int) -> tuple[Any, ...]:
        if image.ndim != 4 or image.shape[-1] < 3:
            raise ValueError(f"ImageColorToMask input 'image': expected an RGB IMAGE "
                             f"(B, H, W, 3|4), got {tuple(image.shape)}")
        return (color_mask(image, color),)
