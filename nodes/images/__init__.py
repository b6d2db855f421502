"""Image and mask nodes with ComfyUI's names and semantics.

``IMAGE_NODES`` lists them in palette order. LoadImage and LoadImageMask list the input folder
of the registry's schema context (``nodes.images.pickers.InputImageFiles``).
"""

from __future__ import annotations

from nodes.api import Node
from nodes.images.io import LoadImage, LoadImageMask, PreviewImage, SaveImage
from nodes.images.masks import MASK_NODES
from nodes.images.ops import IMAGE_OPS

IMAGE_NODES: list[type[Node]] = [
    SaveImage, PreviewImage, LoadImage, LoadImageMask, *IMAGE_OPS, *MASK_NODES,
]

__all__ = ["IMAGE_NODES"]
