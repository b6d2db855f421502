"""Mask nodes beyond the image pack's: ImageColorToMask and MaskPreview (ComfyUI keeps both in
``comfy_extras.nodes_mask``)."""

from __future__ import annotations

from nodes.api import Node
from nodes.masks.color import ImageColorToMask
from nodes.masks.preview import MaskPreview

MASK_CATALOGUE: list[type[Node]] = [ImageColorToMask, MaskPreview]
MASK_EXTRAS_MODULES: dict[str, str] = {n.type_name: "comfy_extras.nodes_mask"
                                       for n in MASK_CATALOGUE}

__all__ = ["MASK_CATALOGUE", "MASK_EXTRAS_MODULES"]
