"""Kohya's Deep Shrink (ComfyUI's ``PatchModelAddDownscale``): while the noise level is inside
[sigma_end, sigma_start], the features leaving input block ``block_number`` are downscaled by
``downscale_factor`` (before or after that block's skip connection is kept); wherever an
output block then gets a backbone h whose height differs from its skip's, h is resized to the
skip's size. High-resolution generations keep the composition the model learnt at its native
size during the early steps.

The resize functions are given by the caller (``resize(x, width, height)``, ComfyUI's
``common_upscale`` methods), so this module stays free of image code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from diffusion.guidance.hooks import ModelHooks
from diffusion.unet.block_patches import BlockInfo

Resize = Callable[[Tensor, int, int], Tensor]
"""``resize(x, width, height)``: (B, C, H, W) -> (B, C, height, width)."""


@dataclass(frozen=True)
class DeepShrinkDown:
    """The input block patch: downscale after block ``block_number`` inside the sigma window."""

    block_number: int
    downscale_factor: float
    sigma_start: float
    sigma_end: float
    resize: Resize

    def __call__(self, h: Tensor, info: BlockInfo) -> Tensor:
        if info.block[1] != self.block_number:
            return h
        if info.sigmas is None:
            raise ValueError("PatchModelAddDownscale needs the call's sigmas (BlockInfo.sigmas "
                             "is None)")
        sigma = float(info.sigmas[0])
        if not self.sigma_end <= sigma <= self.sigma_start:
            return h
        width = round(h.shape[-1] * (1.0 / self.downscale_factor))
        height = round(h.shape[-2] * (1.0 / self.downscale_factor))
        return self.resize(h, width, height)  # (B, C, height, width)


@dataclass(frozen=True)
class DeepShrinkUp:
    """The output block patch: h resized to its skip's size when their heights differ."""

    resize: Resize

    def __call__(self, h: Tensor, skip: Tensor, info: BlockInfo) -> tuple[Tensor, Tensor]:
        if h.shape[2] != skip.shape[2]:
            h = self.resize(h, skip.shape[-1], skip.shape[-2])  # (B, C, H_skip, W_skip)
        return h, skip


@dataclass(frozen=True)
class DeepShrink:
    """Both patches; ``after_skip`` downscales what the next block gets (the kept skip stays at
    full size), otherwise the block's output before it is kept."""

    down: DeepShrinkDown
    up: DeepShrinkUp
    after_skip: bool = True

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        if self.after_skip:
            hooks = hooks.plus(block_inputs_after_skip=(self.down,))
        else:
            hooks = hooks.plus(block_inputs=(self.down,))
        return hooks.plus(block_outputs=(self.up,))


__all__ = ["DeepShrink", "DeepShrinkDown", "DeepShrinkUp", "Resize"]
