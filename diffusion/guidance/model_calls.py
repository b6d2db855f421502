"""``ModelCalls``: the model as a guidance function may call it again within a step.

ComfyUI hands post-CFG and CFG functions the model, its options and the step's ``cond`` /
``uncond`` conditioning; Self-Attention Guidance evaluates the unconditional side again on a
blurred input, Perturbed-Attention Guidance the conditional side with perturbed self-attention,
the Perp-Neg model patch an empty prompt. Here that is a small object built for each guidance
call from the run's ``SideEvaluator``: which of its sides are "cond" and "uncond" there (None: a
side skipped this step, whose prediction is 0, as ComfyUI's ``calc_cond_batch`` gives for a
``None`` conditioning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.guidance.adm import Side
from diffusion.guidance.cond import Cond
from diffusion.guidance.sides import SideEvaluator
from diffusion.unet.attention import AttentionProcessor


@dataclass(frozen=True, eq=False)
class ModelCalls:
    """Implements ``diffusion.guidance.hooks.ModelAccess`` over one run's evaluator."""

    evaluator: SideEvaluator
    cond_side: int | None
    uncond_side: int | None

    def _side(self, index: int | None, x: Tensor, sigma: Tensor,
              attention: Sequence[AttentionProcessor]) -> Tensor:
        if index is None:
            return torch.zeros_like(x)
        return self.evaluator.evaluate_entries(self.evaluator.sides[index], x, sigma, attention)

    def cond(self, x: Tensor, sigma: Tensor,
             attention: Sequence[AttentionProcessor] = ()) -> Tensor:
        """The step's conditional entries evaluated at ``x`` (B, C, H, W)."""
        return self._side(self.cond_side, x, sigma, attention)

    def uncond(self, x: Tensor, sigma: Tensor,
               attention: Sequence[AttentionProcessor] = ()) -> Tensor:
        """The step's unconditional entries evaluated at ``x`` (zeros when skipped)."""
        return self._side(self.uncond_side, x, sigma, attention)

    def conditioning(self, conds: Sequence[Cond], side: Side, x: Tensor, sigma: Tensor,
                     attention: Sequence[AttentionProcessor] = ()) -> Tensor:
        """``conds`` (resolved for this run as ``side``, once) evaluated at ``x``."""
        entries = self.evaluator.resolved(conds, side)
        return self.evaluator.evaluate_entries(entries, x, sigma, attention)


__all__ = ["ModelCalls"]
