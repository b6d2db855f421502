"""Replacements of the CFG combination (ComfyUI's ``sampler_cfg_function``): RescaleCFG and the
Perp-Neg MODEL patch. Each returns the guided x0 prediction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.guidance.cond import Cond
from diffusion.guidance.hooks import CFGArgs, ModelHooks
from diffusion.guidance.perp_neg import perp_neg


def rescale_cfg(cond: Tensor, uncond: Tensor, cond_scale: float, sigma: Tensor, x: Tensor,
                multiplier: float) -> Tensor:
    """CFG rescale (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are
    Flawed", arXiv:2305.08891, eq. 15-16) on v-predictions, as ComfyUI computes it.

    With ``s = sigma``, ``a = 1 / sqrt(s^2 + 1)`` and the model input scaled as ``x / (s^2 +
    1)``, the x0 predictions become v-predictions ``v = (x / (s^2 + 1) - x0) / (s * a)``; CFG
    ``v_cfg = v_u + scale * (v_c - v_u)`` is rescaled to the conditional prediction's standard
    deviation per sample, blended by ``multiplier`` with the plain ``v_cfg``, and turned back
    into x0."""
    s = sigma.reshape(sigma.shape[:1] + (1,) * (cond.ndim - 1))  # (B, 1, 1, 1)
    scaled_x = x / (s * s + 1.0)
    to_v = (s**2 + 1.0) ** 0.5 / s
    v_cond = (scaled_x - cond) * to_v
    v_uncond = (scaled_x - uncond) * to_v
    v_cfg = v_uncond + cond_scale * (v_cond - v_uncond)
    ratio = torch.std(v_cond, dim=(1, 2, 3), keepdim=True) / torch.std(v_cfg, dim=(1, 2, 3),
                                                                       keepdim=True)
    v_final = multiplier * (v_cfg * ratio) + (1.0 - multiplier) * v_cfg
    return scaled_x - v_final * s / (s * s + 1.0) ** 0.5


@dataclass(frozen=True)
class RescaleCFG:
    """ComfyUI's ``RescaleCFG`` CFG function."""

    multiplier: float = 0.7

    def __call__(self, args: CFGArgs) -> Tensor:
        return rescale_cfg(args.cond_denoised, args.uncond_denoised, args.cond_scale,
                           args.sigma, args.x, self.multiplier)

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(cfg=self)


@dataclass(frozen=True, eq=False)
class PerpNegCFG:
    """The Perp-Neg MODEL patch (ComfyUI's deprecated ``PerpNeg`` node): each step also
    evaluates ``empty`` (encoded as a negative prompt) and combines the three predictions with
    ``perp_neg`` (the maths of ``PerpNegGuider``)."""

    empty: Sequence[Cond]
    neg_scale: float = 1.0

    def __call__(self, args: CFGArgs) -> Tensor:
        if args.model is None:
            raise ValueError("PerpNeg: the guider offers no model calls to evaluate the empty "
                             "conditioning")
        empty = args.model.conditioning(self.empty, "negative", args.x, args.sigma)
        return perp_neg(args.cond_denoised, args.uncond_denoised, empty, self.neg_scale,
                        args.cond_scale)

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(cfg=self)


__all__ = ["PerpNegCFG", "RescaleCFG", "rescale_cfg"]
