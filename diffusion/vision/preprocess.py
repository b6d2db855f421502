"""ComfyUI's ``clip_preprocess``: IMAGE (B, H, W, C) in [0, 1] to normalised CLIP pixels.

Alpha is dropped; an image not already ``size``x``size`` is resized bicubically with
antialiasing, its shortest side to ``size`` then centre-cropped (``crop=True``, CLIPVisionEncode's
``center``), or squashed to ``size``x``size`` (``crop=False``, ``none``); values are quantised to
8 bits (as the reference image processor sees them) and normalised with CLIP's mean and std.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from diffusion.vision.config import CLIP_MEAN, CLIP_STD


def clip_preprocess(image: Tensor, size: int = 224, *, crop: bool = True) -> Tensor:
    """(B, H, W, C) in [0, 1] -> (B, 3, size, size) float32, normalised."""
    if image.ndim != 4 or image.shape[-1] < 3:
        raise ValueError(f"image must be (B, H, W, C) with C >= 3, got {tuple(image.shape)}")
    pixels = image[..., :3].float().movedim(-1, 1)  # (B, 3, H, W)
    height, width = pixels.shape[2], pixels.shape[3]
    if (height, width) != (size, size):
        if crop:
            scale = size / min(height, width)
            target = (round(scale * height), round(scale * width))
        else:
            target = (size, size)
        pixels = F.interpolate(pixels, size=target, mode="bicubic", antialias=True)
        top, left = (target[0] - size) // 2, (target[1] - size) // 2
        pixels = pixels[:, :, top:top + size, left:left + size]  # (B, 3, size, size)
    pixels = torch.clip(255.0 * pixels, 0, 255).round() / 255.0
    mean = torch.tensor(CLIP_MEAN, device=pixels.device).view(3, 1, 1)
    std = torch.tensor(CLIP_STD, device=pixels.device).view(3, 1, 1)
    return (pixels - mean) / std
