"""Image encoders: CLIP vision transformers (transformers' key layout) and ComfyUI's CLIP image
preprocessing."""

from __future__ import annotations

from diffusion.vision.clip_vision import (
    VIT_L_14,
    CLIPVisionConfig,
    CLIPVisionModel,
    CLIPVisionTransformer,
    VisionEncoding,
    clip_preprocess,
)

__all__ = ["VIT_L_14", "CLIPVisionConfig", "CLIPVisionModel", "CLIPVisionTransformer",
           "VisionEncoding", "clip_preprocess"]
