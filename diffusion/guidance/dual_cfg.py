"""Dual CFG (ComfyUI's ``DualCFGGuider``): two positive conditionings guided in two stages.

With x0 predictions N (negative), M (``cond2``, the middle) and P (``cond1``):

- ``regular``: ``N + (M - N) * cfg_cond2_negative + (P - M) * cfg_conds`` — CFG of the middle
  against the negative, plus the first conditioning's difference from the middle. The post-CFG
  functions run on the CFG part and see N as the unconditional prediction; sides that cannot
  matter (N when ``cfg_cond2_negative`` is 1, and also M when ``cfg_conds`` is 1) are skipped.
- ``nested``: ``N + cfg_cond2_negative * (T - N)`` with ``T = M + (P - M) * cfg_conds`` (the
  post-CFG functions run on T and see M as the unconditional prediction).

The middle conditioning is encoded as a negative prompt (ComfyUI sets its prompt_type).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from diffusion.guidance.adm import Side
from diffusion.guidance.cond import Cond
from diffusion.guidance.denoiser import cfg_function
from diffusion.guidance.guided_model import GuidedModel
from diffusion.guidance.guider import model_sides
from diffusion.guidance.model_calls import ModelCalls
from diffusion.sampling.model_sampling import Denoiser
from diffusion.sampling.uncond import UncondTap

NEGATIVE, MIDDLE, POSITIVE = 0, 1, 2  # evaluation order, as ComfyUI's calc_cond_batch call


@dataclass(frozen=True, eq=False)
class DualCFGGuider:
    model: GuidedModel
    cond1: Sequence[Cond]
    cond2: Sequence[Cond]
    negative: Sequence[Cond]
    cfg_conds: float
    cfg_cond2_negative: float
    nested: bool = False
    max_batch_area: int | None = None

    def denoiser(self, latent: Tensor, mask: Tensor | None) -> Denoiser:
        return self._denoiser(latent, mask, None)

    def tapped_denoiser(self, latent: Tensor, mask: Tensor | None, tap: UncondTap) -> Denoiser:
        return self._denoiser(latent, mask, tap)

    def skipped(self, tap: UncondTap | None) -> tuple[int, ...]:
        """Sides the regular style leaves out (never with a tap, never when nested)."""
        if tap is not None or self.nested or self.model.hooks.needs_uncond:
            return ()
        if not math.isclose(self.cfg_cond2_negative, 1.0):
            return ()
        return (NEGATIVE, MIDDLE) if math.isclose(self.cfg_conds, 1.0) else (NEGATIVE,)

    def _denoiser(self, latent: Tensor, mask: Tensor | None, tap: UncondTap | None) -> Denoiser:
        # Resolved in ComfyUI's conditioning order (positive, middle, negative), evaluated as
        # [negative, middle, positive].
        sides: tuple[tuple[Sequence[Cond], Side], ...] = (
            (self.cond1, "positive"), (self.cond2, "negative"), (self.negative, "negative"))
        evaluate = model_sides(self.model, sides, latent, mask, self.max_batch_area, (2, 1, 0))
        hooks = evaluate.hooks
        skip = self.skipped(tap)
        # the post-CFG functions' (cond, uncond): (positive, middle) nested, else (middle, negative)
        calls = (ModelCalls(evaluate, POSITIVE, MIDDLE) if self.nested else
                 ModelCalls(evaluate, None if MIDDLE in skip else MIDDLE,
                            None if NEGATIVE in skip else NEGATIVE))

        def denoise(x: Tensor, sigma: Tensor, **_extra: Any) -> Tensor:
            neg, mid, pos = evaluate(x, sigma, skip)
            if self.nested:
                text = cfg_function(pos, mid, self.cfg_conds, x, sigma, hooks.post_cfg, tap,
                                    custom=hooks.cfg, model=calls)
                return neg + self.cfg_cond2_negative * (text - neg)
            guided = cfg_function(mid, neg, self.cfg_cond2_negative, x, sigma, hooks.post_cfg,
                                  tap, custom=hooks.cfg, model=calls)
            return guided + (pos - mid) * self.cfg_conds

        return denoise
