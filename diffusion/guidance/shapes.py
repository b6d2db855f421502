"""Batch and spatial resizing helpers with ComfyUI's exact semantics (``comfy.utils``).

Conditioning tensors are repeated or resampled to the latent batch, masks and concat latents are
resized to the latent grid; each helper names the ComfyUI function it reproduces.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def repeat_to_batch_size(tensor: Tensor, batch_size: int) -> Tensor:
    """``repeat_to_batch_size``: cut a larger batch, tile a smaller one and cut to size."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    size = tensor.shape[0]
    if size > batch_size:
        return tensor[:batch_size]
    if size < batch_size:
        reps = [math.ceil(batch_size / size)] + [1] * (tensor.ndim - 1)
        return tensor.repeat(reps)[:batch_size]  # (batch_size, ...)
    return tensor


def resize_to_batch_size(tensor: Tensor, batch_size: int) -> Tensor:
    """``resize_to_batch_size``: picks evenly spaced samples (nearest) to reach ``batch_size``."""
    size = tensor.shape[0]
    if size == batch_size:
        return tensor
    if batch_size <= 1:
        return tensor[:batch_size]
    if batch_size < size:
        scale = (size - 1) / (batch_size - 1)
        index = [min(round(i * scale), size - 1) for i in range(batch_size)]
    else:
        scale = size / batch_size
        index = [min(math.floor((i + 0.5) * scale), size - 1) for i in range(batch_size)]
    return tensor[torch.tensor(index, device=tensor.device)]  # (batch_size, ...)


def upscale_center(samples: Tensor, height: int, width: int) -> Tensor:
    """``common_upscale(samples, width, height, "bilinear", "center")``: center-crop to the new
    aspect ratio, then bilinear resize of (B, C, h, w) to (B, C, height, width)."""
    old_h, old_w = samples.shape[-2], samples.shape[-1]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    cropped = samples.narrow(-2, y, old_h - y * 2).narrow(-1, x, old_w - x * 2)
    return F.interpolate(cropped, size=(height, width), mode="bilinear")  # (B, C, height, width)


def reshape_mask(mask: Tensor, shape: tuple[int, ...] | torch.Size) -> Tensor:
    """``reshape_mask`` (``prepare_mask``): a noise mask (H, W), (B, H, W) or (B, 1, H, W) as
    (B', C, h, w) for a latent of ``shape`` (B', C, h, w): bilinear resize, channel repeat, batch
    repeat."""
    if len(shape) != 4:
        raise ValueError(f"shape must be a 4-d latent shape (B, C, H, W), got {tuple(shape)!r}")
    if mask.ndim < 2:
        raise ValueError(f"mask must have at least 2 dims (H, W), got shape {tuple(mask.shape)}")
    flat = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float()  # (N, 1, H, W)
    out = F.interpolate(flat, size=tuple(shape[2:]), mode="bilinear")  # (N, 1, h, w)
    if out.shape[1] < shape[1]:
        out = out.repeat(1, shape[1], 1, 1)[:, : shape[1]]  # (N, C, h, w)
    return repeat_to_batch_size(out, shape[0])  # (B', C, h, w)
