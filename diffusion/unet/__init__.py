"""The LDM UNet for SD1.x, SD2.x and SDXL with its configuration and extension hooks."""

from __future__ import annotations

from diffusion.unet.attention import (
    AttentionHooks,
    AttentionInfo,
    AttentionProcessor,
    multihead_attention,
)
from diffusion.unet.config import (
    Family,
    UNetConfig,
    family_config,
    sd1_config,
    sd2_config,
    sdxl_config,
    sdxl_refiner_config,
)
from diffusion.unet.hooks import UNetResiduals, WeightPatch, patch_weights, restore_weights
from diffusion.unet.model import UNetModel, sdxl_adm

__all__ = [
    "AttentionHooks",
    "AttentionInfo",
    "AttentionProcessor",
    "Family",
    "UNetConfig",
    "UNetModel",
    "UNetResiduals",
    "WeightPatch",
    "family_config",
    "multihead_attention",
    "patch_weights",
    "restore_weights",
    "sd1_config",
    "sd2_config",
    "sdxl_adm",
    "sdxl_config",
    "sdxl_refiner_config",
]
