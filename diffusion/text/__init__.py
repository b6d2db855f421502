"""CLIP text encoders (OpenAI CLIP-L, OpenCLIP ViT-H, ViT-bigG) in the single-file key layouts."""

from __future__ import annotations

from diffusion.text.clip import (
    CLIP_L,
    OPEN_CLIP_BIGG,
    OPEN_CLIP_H,
    CLIPTextModel,
    OpenCLIPTextModel,
    TextEncoderConfig,
    TextEncoding,
    sdxl_context,
)

__all__ = [
    "CLIP_L",
    "OPEN_CLIP_BIGG",
    "OPEN_CLIP_H",
    "CLIPTextModel",
    "OpenCLIPTextModel",
    "TextEncoderConfig",
    "TextEncoding",
    "sdxl_context",
]
