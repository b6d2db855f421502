"""CLIP vision towers (ViT-L/14, ViT-H/14, ViT-bigG/14): configuration, model, ComfyUI's
preprocessing and file opening (standalone files and SD2.1 unCLIP checkpoints)."""

from __future__ import annotations

from diffusion.vision.config import (
    VIT_BIGG_14,
    VIT_H_14,
    VIT_L_14,
    VisionConfig,
    detect_vision,
)
from diffusion.vision.files import (
    VISION_COMPONENT,
    VisionFile,
    embedded_vision,
    open_vision_file,
    with_embedded_vision,
)
from diffusion.vision.model import CLIPVisionModel, VisionEncoding
from diffusion.vision.preprocess import clip_preprocess

__all__ = [
    "VISION_COMPONENT", "VIT_BIGG_14", "VIT_H_14", "VIT_L_14", "CLIPVisionModel",
    "VisionConfig", "VisionEncoding", "VisionFile", "clip_preprocess", "detect_vision",
    "embedded_vision", "open_vision_file", "with_embedded_vision",
]
