"""Post-CFG functions that only reshape the guided prediction: CFGNorm, CFG-Zero*, Mahiro and
Epsilon Scaling (ComfyUI's ``sampler_post_cfg_function`` patches)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from diffusion.guidance.hooks import ModelHooks, PostCFGArgs


def cfg_norm(denoised: Tensor, cond: Tensor, strength: float) -> Tensor:
    """ComfyUI's ``CFGNorm``: per pixel, the guided prediction scaled down (never up) to the
    conditional prediction's channel norm, ``denoised * clamp(|cond| / (|denoised| + 1e-8), 0,
    1) * strength``."""
    norm_cond = torch.norm(cond, dim=1, keepdim=True)  # (B, 1, H, W)
    norm_guided = torch.norm(denoised, dim=1, keepdim=True)
    scale = (norm_cond / (norm_guided + 1e-8)).clamp(min=0.0, max=1.0)
    return denoised * scale * strength


def optimized_scale(positive: Tensor, negative: Tensor) -> Tensor:
    """CFG-Zero*'s per-sample ``<positive, negative> / (|negative|^2 + 1e-8)``, (B, 1, ...)."""
    pos = positive.reshape(positive.shape[0], -1)
    neg = negative.reshape(negative.shape[0], -1)
    dot = torch.sum(pos * neg, dim=1, keepdim=True)
    squared = torch.sum(neg**2, dim=1, keepdim=True) + 1e-8
    return (dot / squared).reshape([positive.shape[0]] + [1] * (positive.ndim - 1))


def cfg_zero_star(args: PostCFGArgs) -> Tensor:
    """CFG-Zero* (Fan et al. 2025, arXiv:2503.18886): the unconditional prediction rescaled by
    the optimised scale alpha of the two noise predictions, ``denoised + uncond * (alpha - 1)
    + scale * uncond * (1 - alpha)``."""
    uncond = args.uncond_denoised
    alpha = optimized_scale(args.x - args.cond_denoised, args.x - uncond)
    return args.denoised + uncond * (alpha - 1.0) + args.cond_scale * uncond * (1.0 - alpha)


def mahiro(args: PostCFGArgs) -> Tensor:
    """ComfyUI's ``Mahiro``: blends the guided prediction with the "naive leap" ``cond *
    scale`` by the cosine similarity (signed square roots, mean over pixels) of ``uncond *
    scale`` with their mean: ``(s * cfg + (4 - s) * leap) / 4``, ``s = 2 * (sim + 1)``."""
    leap = args.cond_denoised * args.cond_scale
    u_leap = args.uncond_denoised * args.cond_scale
    cfg = args.denoised
    merge = (leap + cfg) / 2
    norm_u = torch.sqrt(u_leap.abs()) * u_leap.sign()
    norm_m = torch.sqrt(merge.abs()) * merge.sign()
    sim = F.cosine_similarity(norm_u, norm_m).mean()
    weight = 2 * (sim + 1)
    return (weight * cfg + (4 - weight) * leap) / 4


def epsilon_scaling(denoised: Tensor, x: Tensor, factor: float) -> Tensor:
    """Epsilon Scaling (Ning et al. 2023, arXiv:2308.15321, uniform schedule): the predicted
    noise ``x - denoised`` divided by ``factor``."""
    return x - (x - denoised) / factor


@dataclass(frozen=True)
class CFGNorm:
    strength: float = 1.0

    def __call__(self, args: PostCFGArgs) -> Tensor:
        return cfg_norm(args.denoised, args.cond_denoised, self.strength)

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(post_cfg=(self,))


@dataclass(frozen=True)
class CFGZeroStar:
    def __call__(self, args: PostCFGArgs) -> Tensor:
        return cfg_zero_star(args)

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(post_cfg=(self,))


@dataclass(frozen=True)
class Mahiro:
    def __call__(self, args: PostCFGArgs) -> Tensor:
        return mahiro(args)

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(post_cfg=(self,))


@dataclass(frozen=True)
class EpsilonScaling:
    scaling_factor: float = 1.005

    def __post_init__(self) -> None:
        if self.scaling_factor == 0:
            raise ValueError("Epsilon Scaling: scaling_factor must not be 0")

    def __call__(self, args: PostCFGArgs) -> Tensor:
        return epsilon_scaling(args.denoised, args.x, self.scaling_factor)

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(post_cfg=(self,))


__all__ = ["CFGNorm", "CFGZeroStar", "EpsilonScaling", "Mahiro", "cfg_norm", "cfg_zero_star",
           "epsilon_scaling", "mahiro", "optimized_scale"]
