"""Tiny configurations and reference builders shared by the control-model tests."""

from __future__ import annotations

from diffusion.unet.config import UNetConfig

POOLED = 16


def tiny_unet(family: str) -> UNetConfig:
    """Small UNets keeping each family's conventions (uniform res blocks, as diffusers needs)."""
    if family == "sd1":
        return UNetConfig(
            in_channels=4, out_channels=4, model_channels=32, channel_mult=(1, 2, 2),
            num_res_blocks=(2, 2, 2), transformer_depth=(1, 1, 1, 1, 0, 0),
            transformer_depth_output=(0, 0, 0, 1, 1, 1, 1, 1, 1), transformer_depth_middle=1,
            context_dim=24, num_heads=8)
    assert family == "sdxl"
    return UNetConfig(
        in_channels=4, out_channels=4, model_channels=32, channel_mult=(1, 2, 2),
        num_res_blocks=(2, 2, 2), transformer_depth=(0, 0, 1, 1, 2, 2),
        transformer_depth_output=(2, 2, 2, 1, 1, 1, 0, 0, 0), transformer_depth_middle=2,
        context_dim=48, num_head_channels=8, use_linear_in_transformer=True,
        adm_in_channels=POOLED + 6 * 256)


__all__ = ["POOLED", "tiny_unet"]
