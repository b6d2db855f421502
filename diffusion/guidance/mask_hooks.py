"""The denoise-mask hook of an inpainting run (ComfyUI's ``denoise_mask_function``): what it
sees at each model call and what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from diffusion.sampling.model_sampling import ModelSampling


@dataclass(frozen=True, eq=False)
class MaskStep:
    """What a denoise-mask function sees at each model call of an inpainting run."""

    sigma: Tensor  # (B,) the call's noise level
    mask: Tensor  # (B, C, H, W) the prepared noise mask, 1 = regenerate
    sigmas: Tensor  # the run's schedule
    model_sampling: ModelSampling


DenoiseMaskFunction = Callable[[MaskStep], Tensor]
"""Returns the mask (B, C, H, W) used at this call."""

__all__ = ["DenoiseMaskFunction", "MaskStep"]
