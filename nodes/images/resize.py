"""Resizing image batches the way ComfyUI's ``common_upscale`` does.

Methods: ``nearest-exact``, ``bilinear``, ``area``, ``bicubic`` (``torch.nn.functional
.interpolate``, ``align_corners=False``, no antialiasing) and ``lanczos`` (Pillow's Lanczos on
8-bit channels, as ComfyUI does, so results match it bit for bit). ``crop="center"`` first cuts
the source to the target aspect ratio, centred.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

UPSCALE_METHODS: tuple[str, ...] = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
CROP_METHODS: tuple[str, ...] = ("disabled", "center")
_TORCH_MODES = frozenset({"nearest-exact", "bilinear", "area", "bicubic"})


def center_crop_to_aspect(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The centred part of ``samples`` (B, C, H, W) with the aspect ratio of width × height."""
    old_height, old_width = samples.shape[-2], samples.shape[-1]
    old_aspect = old_width / old_height
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_width - old_width * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_height - old_height * (old_aspect / new_aspect)) / 2)
    return samples.narrow(-2, y, old_height - 2 * y).narrow(-1, x, old_width - 2 * x)


def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Pillow Lanczos per channel on 8-bit values, as ComfyUI: (B, C, H, W) → (B, C, h, w)."""
    pixels = np.clip(255.0 * samples.detach().cpu().float().numpy(), 0, 255).astype(np.uint8)
    out = np.empty((*pixels.shape[:2], height, width), dtype=np.float32)  # (B, C, h, w)
    for b in range(pixels.shape[0]):
        for c in range(pixels.shape[1]):
            band = Image.fromarray(pixels[b, c])  # mode "L"
            resized = band.resize((width, height), resample=Image.Resampling.LANCZOS)
            out[b, c] = np.asarray(resized, dtype=np.float32) / 255.0
    return torch.from_numpy(out).to(samples.device, samples.dtype)


def upscale(samples: torch.Tensor, width: int, height: int, method: str,
            crop: str = "disabled") -> torch.Tensor:
    """Resize ``samples`` (B, C, H, W) to (B, C, height, width). Never modifies its input."""
    if method not in UPSCALE_METHODS:
        raise ValueError(f"upscale_method {method!r} is unknown; choose one of {UPSCALE_METHODS}")
    if crop not in CROP_METHODS:
        raise ValueError(f"crop {crop!r} is unknown; choose one of {CROP_METHODS}")
    if width < 1 or height < 1:
        raise ValueError(f"target size {width}x{height} is empty; width and height must be ≥ 1")
    source = center_crop_to_aspect(samples, width, height) if crop == "center" else samples
    if method == "lanczos":
        return lanczos(source, width, height)
    return torch.nn.functional.interpolate(source, size=(height, width), mode=method)


def upscale_image(image: torch.Tensor, width: int, height: int, method: str,
                  crop: str = "disabled") -> torch.Tensor:
    """:func:`upscale` for an IMAGE (B, H, W, C)."""
    samples = image.movedim(-1, 1)  # (B, C, H, W)
    return upscale(samples, width, height, method, crop).movedim(1, -1)  # (B, h, w, C)


def repeat_to_batch(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """First ``batch`` items of ``tensor`` repeated cyclically along dim 0 (ComfyUI's rule)."""
    have = tensor.shape[0]
    if have == batch:
        return tensor
    if have > batch:
        return tensor[:batch]
    repeats = -(-batch // have)
    return tensor.repeat((repeats,) + (1,) * (tensor.dim() - 1))[:batch]
