"""Resizing latents as ComfyUI's ``common_upscale``: torch's interpolation modes, and
``bislerp``, a bilinear resize whose blend of two latent vectors is a spherical interpolation of
their directions with a linear interpolation of their lengths (so the latent's norm survives).
"""

from __future__ import annotations

import torch
from torch import Tensor

from nodes.images.resize import center_crop_to_aspect

LATENT_UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")
CROP_METHODS = ("disabled", "center")
_PARALLEL = 1e-5


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Row-wise slerp of (N, C) vectors by (N, 1) ratios; lengths are interpolated linearly.

    Nearly parallel rows give ``a``; nearly opposite rows fall back to the linear blend.
    """
    a_norm = a.norm(dim=-1, keepdim=True)  # (N, 1)
    b_norm = b.norm(dim=-1, keepdim=True)
    a_dir = torch.where(a_norm > 0, a / a_norm.clamp_min(1e-30), torch.zeros_like(a))
    b_dir = torch.where(b_norm > 0, b / b_norm.clamp_min(1e-30), torch.zeros_like(b))
    dot = (a_dir * b_dir).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)  # (N, 1)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    safe = sin_omega.abs() > 1e-12
    denom = torch.where(safe, sin_omega, torch.ones_like(sin_omega))
    weight_a = torch.sin((1.0 - t) * omega) / denom  # (N, 1)
    weight_b = torch.sin(t * omega) / denom
    direction = weight_a * a_dir + weight_b * b_dir
    out = direction * (a_norm * (1.0 - t) + b_norm * t)
    linear = a * (1.0 - t) + b * t
    out = torch.where(dot < _PARALLEL - 1.0, linear, out)
    return torch.where(dot > 1.0 - _PARALLEL, a, out)


def _axis_sources(old: int, new: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """For each output position: lower source index, upper source index, ratio (half-pixel
    centres, as ``interpolate(mode="bilinear", align_corners=False)``)."""
    pos = (torch.arange(new, device=device, dtype=torch.float64) + 0.5) * (old / new) - 0.5
    pos = pos.clamp(0.0, old - 1)
    low = pos.floor().long()
    high = (low + 1).clamp(max=old - 1)
    return low, high, (pos - low).float()


def _bislerp_last_axis(x: Tensor, new: int) -> Tensor:
    """Resizes the last axis of (B, C, H, W) with slerp between neighbours."""
    b, c, h, w = x.shape
    low, high, ratio = _axis_sources(w, new, x.device)
    rows = x.permute(0, 2, 3, 1)  # (B, H, W, C)
    a = rows[:, :, low].reshape(-1, c)  # (B * H * new, C)
    z = rows[:, :, high].reshape(-1, c)
    t = ratio.to(x.dtype).repeat(b * h).unsqueeze(1)  # (B * H * new, 1)
    return slerp(a, z, t).reshape(b, h, new, c).permute(0, 3, 1, 2)  # (B, C, H, new)


def bislerp(samples: Tensor, width: int, height: int) -> Tensor:
    """(B, C, H, W) → (B, C, height, width): width first, then height."""
    out = _bislerp_last_axis(samples.float(), width)  # (B, C, H, width)
    out = _bislerp_last_axis(out.transpose(-1, -2), height).transpose(-1, -2)
    return out.to(samples.dtype)  # (B, C, height, width)


def upscale_latent(samples: Tensor, width: int, height: int, method: str,
                   crop: str = "disabled") -> Tensor:
    """Resize (B, C, H, W) latents to (B, C, height, width). Never modifies its input."""
    if method not in LATENT_UPSCALE_METHODS:
        raise ValueError(f"upscale_method {method!r} is unknown; "
                         f"choose one of {list(LATENT_UPSCALE_METHODS)}")
    if crop not in CROP_METHODS:
        raise ValueError(f"crop {crop!r} is unknown; choose one of {list(CROP_METHODS)}")
    if width < 1 or height < 1:
        raise ValueError(f"target latent size {width}x{height} is empty")
    source = center_crop_to_aspect(samples, width, height) if crop == "center" else samples
    if method == "bislerp":
        return bislerp(source, width, height)
    return torch.nn.functional.interpolate(source, size=(height, width), mode=method)
