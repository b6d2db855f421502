"""CLIPVisionLoader and CLIPVisionEncode (ComfyUI's ``nodes.py``)."""

from __future__ import annotations

from typing import Any

import torch

from nodes.api import CLIP_VISION, CLIP_VISION_OUTPUT, IMAGE, Combo, Link, Node, Output, RunContext
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.vision.encode import encode_image, vision_payload
from nodes.vision_payloads import ClipVision

CROPS = ("center", "none")


class CLIPVisionLoader(ModelPickerNode):
    """Loads a CLIP vision model (ViT-L/14, ViT-H/14 or ViT-bigG/14 image encoder) from the
    clip_vision folder: transformers CLIPVisionModelWithProjection files or OpenCLIP visual.*
    keys."""

    display_name = "Load CLIP Vision"
    category = "loaders"
    pickers = {"clip_name": "clip_vision"}
    inputs = (model_picker("clip_name", "clip_vision", "The CLIP vision model file."),)
    outputs = (Output(CLIP_VISION),)

    def run(self, ctx: RunContext, clip_name: str) -> tuple[Any, ...]:
        path = self.model_path(ctx.model_files, "clip_name", clip_name)
        return (vision_payload(ctx.models.open(path),
                               f"CLIPVisionLoader input 'clip_name': {clip_name!r}"),)


class CLIPVisionEncode(Node):
    """Encodes images with a CLIP vision model: resized (shortest side to its size, bicubic)
    and centre-cropped (center) or squashed (none), normalised, encoded. The output carries
    the image embeddings and the last and penultimate hidden states."""

    display_name = "CLIP Vision Encode"
    category = "conditioning"
    inputs = (
        Link("clip_vision", CLIP_VISION, tooltip="The CLIP vision model."),
        Link("image", IMAGE, tooltip="The images to encode."),
        Combo("crop", choices=CROPS,
              tooltip="center: keep the centre square; none: squash the whole image."),
    )
    outputs = (Output(CLIP_VISION_OUTPUT),)

    def run(self, ctx: RunContext, clip_vision: ClipVision, image: torch.Tensor,
            crop: str) -> tuple[Any, ...]:
        if crop not in CROPS:
            raise ValueError(f"CLIPVisionEncode input 'crop': {crop!r}; choose one of "
                             f"{list(CROPS)}")
        if image.ndim != 4:
            raise ValueError(f"CLIPVisionEncode input 'image': expected (B, H, W, C), got "
                             f"{tuple(image.shape)}")
        return (encode_image(ctx, clip_vision, image, crop=crop == "center"),)
