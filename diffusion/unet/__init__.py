"""The LDM UNet for SD1.x, SD2.x and SDXL with its configuration and extension points
(residuals, attention hooks, block patches; weight patches: ``diffusion.patching``)."""

from __future__ import annotations

from diffusion.unet.attention import (
    AttentionHooks,
    AttentionInfo,
    AttentionProcessor,
    AttentionTokenPatch,
    multihead_attention,
)
from diffusion.unet.block_patches import BlockInfo, BlockPatches, InputBlockPatch, OutputBlockPatch
from diffusion.unet.config import (
    Family,
    UNetConfig,
    family_config,
    sd1_config,
    sd2_config,
    sdxl_config,
    sdxl_refiner_config,
)
from diffusion.unet.hooks import UNetResiduals
from diffusion.unet.model import UNetModel, sdxl_adm

__all__ = [
    "AttentionHooks",
    "AttentionInfo",
    "AttentionProcessor",
    "AttentionTokenPatch",
    "BlockInfo",
    "BlockPatches",
    "Family",
    "InputBlockPatch",
    "OutputBlockPatch",
    "UNetConfig",
    "UNetModel",
    "UNetResiduals",
    "family_config",
    "multihead_attention",
    "sd1_config",
    "sd2_config",
    "sdxl_adm",
    "sdxl_config",
    "sdxl_refiner_config",
]
