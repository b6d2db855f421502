"""FreeU (Si et al. 2023, "FreeU: Free Lunch in Diffusion U-Net", arXiv:2309.11497), as
ComfyUI's ``FreeU`` and ``FreeU_V2`` nodes apply it: an output block patch.

Before an output block whose incoming backbone features h have ``4 * model_channels`` channels
(scale pair (b1, s1)) or ``2 * model_channels`` (pair (b2, s2)):

* the first half of h's channels is multiplied by b (v1), or by ``(b - 1) * m + 1`` where m is
  h's channel mean min-max normalised over each sample's pixels (v2);
* the skip connection is filtered by ``freeu_filter`` with threshold 1: its 2x2 lowest
  frequencies scaled by s.

Other blocks are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from diffusion.guidance.hooks import ModelHooks
from diffusion.model_patches.fourier import freeu_filter
from diffusion.unet.block_patches import BlockInfo

FREEU_THRESHOLD = 1


def freeu_v2_factor(h: Tensor, backbone: float) -> Tensor:
    """FreeU v2's backbone factor (B, 1, H, W): ``(b - 1) * m + 1``, m the channel mean of h
    min-max normalised per sample."""
    mean = h.mean(1, keepdim=True)  # (B, 1, H, W)
    flat = mean.reshape(mean.shape[0], -1)  # (B, H*W)
    low = flat.min(dim=-1).values[:, None, None, None]  # (B, 1, 1, 1)
    high = flat.max(dim=-1).values[:, None, None, None]
    return (backbone - 1.0) * ((mean - low) / (high - low)) + 1.0


@dataclass(frozen=True)
class FreeU:
    """The output block patch; ``version`` 1 (FreeU) or 2 (FreeU_V2)."""

    b1: float
    b2: float
    s1: float
    s2: float
    version: int = 1

    def __post_init__(self) -> None:
        if self.version not in (1, 2):
            raise ValueError(f"FreeU version must be 1 or 2, got {self.version!r}")

    def scales(self, channels: int, model_channels: int) -> tuple[float, float] | None:
        """(backbone, skip) factors for h with ``channels`` channels, or None."""
        table = {model_channels * 4: (self.b1, self.s1), model_channels * 2: (self.b2, self.s2)}
        return table.get(channels)

    def __call__(self, h: Tensor, skip: Tensor, info: BlockInfo) -> tuple[Tensor, Tensor]:
        found = self.scales(int(h.shape[1]), info.model_channels)
        if found is None:
            return h, skip
        backbone, skip_scale = found
        half = h.shape[1] // 2
        factor = backbone if self.version == 1 else freeu_v2_factor(h, backbone)
        h = torch.cat([h[:, :half] * factor, h[:, half:]], dim=1)  # (B, C, H, W)
        return h, freeu_filter(skip, FREEU_THRESHOLD, skip_scale)

    def add_to(self, hooks: ModelHooks) -> ModelHooks:
        return hooks.plus(block_outputs=(self,))


__all__ = ["FreeU", "freeu_v2_factor"]
