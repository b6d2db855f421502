"""Hint images as ComfyUI prepares them for a control model (``comfy.utils.common_upscale`` with
``crop="center"``, ``broadcast_image_to``).

A hint is (B, C, H, W) in [0, 1]. Before a forward it is centre-cropped to the target's aspect
ratio and resized (``nearest-exact`` for ControlNets and T2I-Adapters) to the latent size times
the compression (8), then its batch is spread over the forward's rows: a single hint serves every
row, otherwise each cond/uncond chunk gets the hints in order, cut or tiled to the chunk size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

HINT_UPSCALE = "nearest-exact"


def center_crop(samples: Tensor, width: int, height: int) -> Tensor:
    """The centred part of ``samples`` (B, C, H, W) with the aspect ratio width x height."""
    old_h, old_w = samples.shape[-2], samples.shape[-1]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    return samples.narrow(-2, y, old_h - 2 * y).narrow(-1, x, old_w - 2 * x)


def resize_hint(hint: Tensor, width: int, height: int, mode: str = HINT_UPSCALE) -> Tensor:
    """``common_upscale(hint, width, height, mode, "center")``: (B, C, height, width)."""
    if width < 1 or height < 1:
        raise ValueError(f"hint target size {width}x{height} is empty")
    cropped = center_crop(hint, width, height)
    return F.interpolate(cropped, size=(height, width), mode=mode)  # (B, C, height, width)


def broadcast_hint(hint: Tensor, rows: int, chunks: int) -> Tensor:
    """``broadcast_image_to``: a hint batch spread over ``rows`` rows made of ``chunks`` equal
    cond/uncond chunks (a batch of one is returned as is and broadcasts)."""
    if hint.shape[0] == 1:
        return hint
    per_chunk = rows // chunks
    hint = hint[:per_chunk]
    if per_chunk > hint.shape[0]:
        repeats = [hint] * (per_chunk // hint.shape[0])
        hint = torch.cat([*repeats, hint[: per_chunk % hint.shape[0]]])  # (per_chunk, C, H, W)
    if hint.shape[0] == rows:
        return hint
    return torch.cat([hint] * chunks)  # (rows, C, H, W)


__all__ = ["HINT_UPSCALE", "broadcast_hint", "center_crop", "resize_hint"]
