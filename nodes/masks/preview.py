"""MaskPreview: shows a mask in the editor as a grey image saved to the temp folder."""

from __future__ import annotations

import torch

from nodes.api import MASK, Hidden, Link, Node, NodeResult, RunContext
from nodes.images.io import preview_prefix, save_images
from nodes.images.png_metadata import SAVE_COMPRESS_LEVEL


def mask_to_rgb(mask: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) grey images of a mask (H, W), (B, H, W) or (B, 1, H, W)."""
    return mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(
        -1, -1, -1, 3)


class MaskPreview(Node):
    """Shows the masks in the editor as grey images (white is 1); they are saved to the temp
    folder with the prompt and workflow embedded."""

    category = "mask"
    output_node = True
    hidden = frozenset({Hidden.PROMPT, Hidden.EXTRA_PNGINFO})
    inputs = (Link("mask", MASK, tooltip="The masks to preview."),)

    def run(self, ctx: RunContext, mask: torch.Tensor) -> NodeResult:
        # ComfyUI writes mask previews at SaveImage's compression level (4), not PreviewImage's
        return save_images(ctx, self.type_name, mask_to_rgb(mask), preview_prefix(), "temp",
                           SAVE_COMPRESS_LEVEL)
