"""Image conditioning nodes of ComfyUI's core: CLIP vision (loader, encode), unCLIP
(conditioning, checkpoint loader) and style models (loader, apply)."""

from __future__ import annotations

from nodes.api import Node
from nodes.vision.clip_vision import CLIPVisionEncode, CLIPVisionLoader
from nodes.vision.style import StyleModelApply, StyleModelLoader
from nodes.vision.unclip import unCLIPCheckpointLoader, unCLIPConditioning

VISION_NODES: list[type[Node]] = [
    CLIPVisionLoader, CLIPVisionEncode, unCLIPCheckpointLoader, unCLIPConditioning,
    StyleModelLoader, StyleModelApply,
]

__all__ = ["VISION_NODES"]
