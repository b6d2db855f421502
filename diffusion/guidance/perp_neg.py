"""Perp-Neg guidance (Armandpour et al. 2023, "Re-imagine the Negative Prompt Algorithm",
arXiv:2304.04968), as ComfyUI's ``PerpNegGuider``.

With x0 predictions P (positive), N (negative) and E (the empty prompt), the positive and
negative directions are ``p = P - E`` and ``n = N - E``; only the part of n perpendicular to p
is pushed away from: ``E + cfg * (p - neg_scale * (n - <n, p> / |p|^2 * p))``. As in ComfyUI the
projection is taken over the whole batch (one dot product, not one per sample). The post-CFG
functions see N as the unconditional prediction. When ``neg_scale`` is 0 the negative side is
skipped, and when cfg is also 1 the empty side too (unless a CFG++ sampler records uncond or a
model hook needs it). ``perp_neg`` is also the maths of the Perp-Neg MODEL patch
(``diffusion.model_patches``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.adm import Side
from diffusion.guidance.cond import Cond
from diffusion.guidance.denoiser import post_cfg
from diffusion.guidance.guided_model import GuidedModel
from diffusion.guidance.guider import model_sides
from diffusion.guidance.model_calls import ModelCalls
from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.uncond import UncondTap

POSITIVE, NEGATIVE, EMPTY = 0, 1, 2  # evaluation order, as ComfyUI's calc_cond_batch call


def perp_neg(positive: Tensor, negative: Tensor, empty: Tensor, neg_scale: float,
             cfg: float) -> Tensor:
    """Perp-Neg of three x0 predictions (B, C, H, W)."""
    pos = positive - empty
    neg = negative - empty
    perp = neg - (torch.mul(neg, pos).sum() / torch.norm(pos) ** 2) * pos
    result: Tensor = empty + cfg * (pos - perp * neg_scale)
    return result


@dataclass(frozen=True, eq=False)
class PerpNegGuider:
    model: GuidedModel
    positive: Sequence[Cond]
    negative: Sequence[Cond]
    empty: Sequence[Cond]
    cfg: float
    neg_scale: float
    max_batch_area: int | None = None

    def denoiser(self, latent: Tensor, mask: Tensor | None) -> Denoiser:
        return self._denoiser(latent, mask, None)

    def tapped_denoiser(self, latent: Tensor, mask: Tensor | None, tap: UncondTap) -> Denoiser:
        return self._denoiser(latent, mask, tap)

    def skipped(self, tap: UncondTap | None) -> tuple[int, ...]:
        if tap is not None or self.model.hooks.needs_uncond:
            return ()
        if not math.isclose(self.neg_scale, 0.0):
            return ()
        return (NEGATIVE, EMPTY) if math.isclose(self.cfg, 1.0) else (NEGATIVE,)

    def _denoiser(self, latent: Tensor, mask: Tensor | None, tap: UncondTap | None) -> Denoiser:
        # Resolved in ComfyUI's conditioning order (positive, empty, negative), evaluated as
        # [positive, negative, empty]; the empty prompt is encoded as a negative one.
        sides: tuple[tuple[Sequence[Cond], Side], ...] = (
            (self.positive, "positive"), (self.empty, "negative"), (self.negative, "negative"))
        evaluate = model_sides(self.model, sides, latent, mask, self.max_batch_area, (0, 2, 1))
        functions = evaluate.hooks.post_cfg
        skip = self.skipped(tap)
        calls = ModelCalls(evaluate, POSITIVE, None if NEGATIVE in skip else NEGATIVE)

        def denoise(x: Tensor, sigma: Tensor, **_extra: Any) -> Tensor:
            pos, neg, empty = evaluate(x, sigma, skip)
            result = perp_neg(pos, neg, empty, self.neg_scale, self.cfg)
            return post_cfg(result, pos, neg, self.cfg, x, sigma, functions, tap, model=calls)

        return denoise
