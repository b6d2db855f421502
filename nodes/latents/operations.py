"""LATENT_OPERATION payloads: functions from latents to latents, with ComfyUI's arithmetic.

An operation is called ``operation(latent=tensor)`` (ComfyUI's convention, so plugin nodes can
call ours) and returns a new tensor of the same shape. Both work per spatial position on the
vector of channels: its length ("luminance") and its direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor


class LatentOperation(Protocol):
    """The LATENT_OPERATION payload."""

    def __call__(self, latent: Tensor) -> Tensor: ...


def gaussian_kernel(size: int, sigma: float, device: torch.device | None = None) -> Tensor:
    """A (size, size) Gaussian over a grid spanning [-1, 1] on both axes, summing to 1 (the
    kernel of ComfyUI's image and latent sharpen)."""
    axis = torch.linspace(-1, 1, size, device=device)
    x, y = torch.meshgrid(axis, axis, indexing="ij")
    distance = torch.sqrt(x * x + y * y)  # squared again below: ComfyUI's rounding
    weights = torch.exp(-(distance * distance) / (2.0 * sigma * sigma))
    return weights / weights.sum()


@dataclass(frozen=True)
class Sharpen:
    """Unsharp masking of the channel directions: each direction minus a Gaussian blur of its
    neighbours (weight alpha · 10, reflect-padded), then scaled back by its length."""

    radius: int
    sigma: float
    alpha: float

    nbytes = 0

    def __call__(self, latent: Tensor) -> Tensor:
        r = self.radius
        if min(latent.shape[-2:]) <= r:
            raise ValueError(f"LatentOperationSharpen: sharpen_radius {r} needs latents larger "
                             f"than {r} samples per side; got {tuple(latent.shape[-2:])}")
        luminance = (torch.linalg.vector_norm(latent, dim=1) + 1e-6)[:, None]  # (B, 1, H, W)
        direction = latent / luminance
        channels = latent.shape[1]
        size = 2 * r + 1
        kernel = gaussian_kernel(size, self.sigma, device=latent.device) * (self.alpha * -10)
        kernel[r, r] = kernel[r, r] - kernel.sum() + 1.0
        padded = F.pad(direction, (r, r, r, r), mode="reflect")  # (B, C, H + 2r, W + 2r)
        weights = kernel.to(latent.dtype).repeat(channels, 1, 1).unsqueeze(1)  # (C, 1, k, k)
        sharpened = F.conv2d(padded, weights, padding=size // 2, groups=channels)
        return luminance * sharpened[:, :, r:-r, r:-r]  # (B, C, H, W)


@dataclass(frozen=True)
class TonemapReinhard:
    """Reinhard tone mapping of the channel lengths: L / (L + 1) with L measured in units of
    (mean + 5 std) · multiplier of the sample's lengths; directions are kept."""

    multiplier: float

    nbytes = 0

    def __call__(self, latent: Tensor) -> Tensor:
        length = (torch.linalg.vector_norm(latent, dim=1) + 1e-10)[:, None]  # (B, 1, H, W)
        direction = latent / length
        dims = list(range(1, length.ndim))
        mean = torch.mean(length, dim=dims, keepdim=True)  # (B, 1, 1, 1)
        std = torch.std(length, dim=dims, keepdim=True)
        top = (std * 5 + mean) * self.multiplier
        scaled = length * (1.0 / top)
        return direction * (scaled / (scaled + 1.0) * top)
