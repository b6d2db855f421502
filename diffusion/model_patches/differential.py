"""Differential Diffusion (Levin & Fried 2023, arXiv:2306.00950), as ComfyUI's
``DifferentialDiffusion``: a soft inpainting mask becomes a per-step binary one. At a call with
noise level sigma the region regenerated is where ``mask >= t``, t the call's timestep's
position between the run's last and first (1 at the first step, falling to 0): strong mask
values change from the start, weak ones only late. ``strength`` below 1 blends the binary mask
with the soft one (``strength * binary + (1 - strength) * mask``; 0 counts as 1, as in ComfyUI).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.guidance.hooks import ModelHooks
from diffusion.guidance.mask_hooks import MaskStep


def step_threshold(step: MaskStep) -> Tensor:
    """The call's threshold: its timestep's position in [ts(last), ts(first)] of the run."""
    ms = step.model_sampling
    sigma_to = ms.sigma_min
    if step.sigmas[-1] > sigma_to:
        sigma_to = step.sigmas[-1]
    ts_from = ms.timestep(step.sigmas[0])
    ts_to = ms.timestep(torch.as_tensor(sigma_to))
    current = ms.timestep(step.sigma[0])
    return (current - ts_to) / (ts_from - ts_to)


@dataclass(frozen=True)
class DifferentialDiffusion:
    """The denoise-mask function."""

    strength: float = 1.0

    def __call__(self, step: MaskStep) -> Tensor:
        threshold = step_threshold(step).to(step.mask.device)
        binary = (step.mask >= threshold).to(step.mask.dtype)
        if self.strength and self.strength < 1:
            return self.strength * binary + (1 - self.strength) * step.mask
        return binary

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(denoise_mask=self)


__all__ = ["DifferentialDiffusion", "step_threshold"]
