"""Canny edge detection as ComfyUI's ``Canny`` node computes it (``kornia.filters.canny``),
written in plain torch so the engine needs no extra dependency for one preprocessor.

The steps follow kornia 0.9: grey = 0.299 R + 0.587 G + 0.114 B; a 5x5 Gaussian blur (sigma 1,
separable, reflected border); unnormalised Sobel gradients (replicated border); magnitude
``sqrt(gx² + gy² + eps)`` computed one pixel past the image (the border reads as a flat pixel);
non-maximum suppression along the gradient rounded to 45° (a horizontal or vertical gradient
keeps the left / upper pixel of a tie, diagonals need a strict maximum); weak edges above
``low``, strong above ``high``; hysteresis keeps weak pixels 8-connected to strong ones until
nothing changes. ``tests/diffusion/control/test_canny.py`` compares it with kornia when kornia is
importable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

GREY_WEIGHTS = (0.299, 0.587, 0.114)
BLUR_SIZE, BLUR_SIGMA = 5, 1.0
EPS = 1e-6
# Neighbour offsets (dy, dx) by direction k (angle k x 45°), then the pixel itself.
_OFFSETS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 0))


def _gaussian_1d(size: int, sigma: float, like: Tensor) -> Tensor:
    x = torch.arange(size, dtype=like.dtype, device=like.device) - size // 2
    kernel = torch.exp(-(x * x) / (2 * sigma * sigma))
    return kernel / kernel.sum()  # (size,)


def _blur(grey: Tensor) -> Tensor:
    """Separable Gaussian blur of (B, 1, H, W) with reflected borders."""
    k = _gaussian_1d(BLUR_SIZE, BLUR_SIGMA, grey)
    half = BLUR_SIZE // 2
    x = F.conv2d(F.pad(grey, (half, half, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, half, half), mode="reflect"), k.view(1, 1, -1, 1))


def _sobel(img: Tensor) -> tuple[Tensor, Tensor]:
    """Unnormalised Sobel (gx, gy) of (B, 1, H, W), replicated border."""
    kernel = torch.tensor(
        [[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
         [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]],
        dtype=img.dtype, device=img.device)
    grads = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), kernel[:, None])  # (B, 2, H, W)
    return grads[:, :1], grads[:, 1:]


def _beats(magnitude: Tensor, neighbour: Tensor, direction: Tensor) -> Tensor:
    tie_ok = (direction == 0) | (direction == 2)
    return (magnitude > neighbour) | (tie_ok & (magnitude == neighbour))


def _suppress(gx: Tensor, gy: Tensor) -> Tensor:
    """The gradient magnitude kept only on ridges along the gradient direction."""
    height, width = gx.shape[-2:]
    pgx, pgy = F.pad(gx, (1, 1, 1, 1)), F.pad(gy, (1, 1, 1, 1))
    padded = torch.sqrt(pgx * pgx + pgy * pgy + EPS)  # (B, 1, H+2, W+2)
    window = torch.stack([padded[..., 1 + dy: 1 + dy + height, 1 + dx: 1 + dx + width]
                          for dy, dx in _OFFSETS], 2)  # (B, 1, 9, H, W)
    magnitude = window[:, :, 8]
    angle = (torch.nan_to_num(torch.atan2(gy, gx)) * (4 / math.pi)).round()
    positive, negative = (angle % 8).long(), ((angle + 4) % 8).long()
    both = torch.gather(window, 2, torch.stack([positive, negative], 2))  # (B, 1, 2, H, W)
    keep = _beats(magnitude, both[:, :, 0], positive) & _beats(magnitude, both[:, :, 1], negative)
    keep = keep & (magnitude > padded[..., :1, :1])
    return magnitude * keep


def _hysteresis(edges: Tensor) -> Tensor:
    """Weak pixels (0.5) 8-connected to strong ones (1) become strong, until nothing changes."""
    kernels = torch.zeros(8, 1, 3, 3, dtype=edges.dtype, device=edges.device)
    for k, (dy, dx) in enumerate(_OFFSETS[:8]):
        kernels[k, 0, 1 + dy, 1 + dx] = 1.0
    old = -torch.ones_like(edges)
    while bool((old - edges).abs().ne(0).any()):
        old = edges
        weak, strong = (edges == 0.5).to(edges.dtype), (edges == 1).to(edges.dtype)
        touched = (F.conv2d(edges, kernels, padding=1) == 1).any(1, keepdim=True).to(edges.dtype)
        grown = touched * weak + strong
        edges = grown + (grown == 0) * weak * 0.5
    return (edges == 1).to(edges.dtype)


def canny(image: Tensor, low_threshold: float, high_threshold: float) -> Tensor:
    """Edges (B, 1, H, W) of 0 and 1 from an image (B, 1 or 3, H, W) in [0, 1]."""
    if image.ndim != 4 or image.shape[1] not in (1, 3):
        raise ValueError(f"canny expects (B, 1 or 3, H, W), got {tuple(image.shape)}")
    if not 0 < low_threshold <= high_threshold:
        raise ValueError(f"thresholds must satisfy 0 < low <= high, got low={low_threshold!r}, "
                         f"high={high_threshold!r}")
    dtype = image.dtype
    x = image.float()
    if x.shape[1] == 3:
        r, g, b = x.unbind(1)
        x = (GREY_WEIGHTS[0] * r + GREY_WEIGHTS[1] * g + GREY_WEIGHTS[2] * b).unsqueeze(1)
    gx, gy = _sobel(_blur(x))
    magnitude = _suppress(gx, gy)
    edges = ((magnitude > low_threshold).float() + (magnitude > high_threshold).float()) * 0.5
    return _hysteresis(edges).to(dtype)


__all__ = ["canny"]
