"""Batch nodes: GetImageSize, ImageFromBatch, RepeatImageBatch, RebatchImages (ComfyUI's
``comfy_extras/nodes_images.py`` and ``nodes_rebatch.py``)."""

from __future__ import annotations

from typing import Any

import torch

from nodes.api import IMAGE, INT, Hidden, Int, Link, Node, Output, RunContext


def check_image(node: str, name: str, image: torch.Tensor) -> None:
    """Refuses anything but an IMAGE (B, H, W, C), naming the node and input."""
    if not isinstance(image, torch.Tensor) or image.dim() != 4:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{node} input {name!r}: expected an IMAGE (B, H, W, C), got {shape}")


class GetImageSize(Node):
    """Returns the width and height of the images and the batch size."""

    display_name = "Get Image Size"
    category = "image"
    hidden = frozenset({Hidden.UNIQUE_ID})
    inputs = (Link("image", IMAGE, tooltip="The images to measure."),)
    outputs = (Output(INT, "width"), Output(INT, "height"), Output(INT, "batch_size"))

    def run(self, ctx: RunContext, image: torch.Tensor) -> tuple[Any, ...]:
        check_image("GetImageSize", "image", image)
        batch, height, width = (int(n) for n in image.shape[:3])
        return (width, height, batch)


class ImageFromBatch(Node):
    """Takes `length` images starting at `batch_index` (both clamped to the batch)."""

    category = "image/batch"
    inputs = (
        Link("image", IMAGE, tooltip="The batch to take images from."),
        Int("batch_index", default=0, min=0, max=4095,
            tooltip="Index of the first image (the last image if past the end)."),
        Int("length", default=1, min=1, max=4096,
            tooltip="How many images (fewer if the batch ends first)."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, batch_index: int,
            length: int) -> tuple[Any, ...]:
        check_image("ImageFromBatch", "image", image)
        start = min(image.shape[0] - 1, batch_index)
        count = min(image.shape[0] - start, length)
        return (image[start:start + count].clone(),)  # (count, H, W, C)


class RepeatImageBatch(Node):
    """Repeats the whole batch `amount` times (1 2 → 1 2 1 2 …)."""

    category = "image/batch"
    inputs = (
        Link("image", IMAGE, tooltip="The batch to repeat."),
        Int("amount", default=1, min=1, max=4096, tooltip="How many copies of the batch."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, amount: int) -> tuple[Any, ...]:
        check_image("RepeatImageBatch", "image", image)
        return (image.repeat((amount, 1, 1, 1)),)  # (B·amount, H, W, C)


class RebatchImages(Node):
    """Regroups every incoming image (from all input batches, in order) into batches of
    `batch_size`; the last batch holds the rest. Outputs a list of batches."""

    display_name = "Rebatch Images"
    category = "image/batch"
    input_is_list = True
    inputs = (
        Link("images", IMAGE, tooltip="The image batches (a list of batches is taken whole)."),
        Int("batch_size", default=1, min=1, max=4096, tooltip="Images per output batch."),
    )
    outputs = (Output(IMAGE, is_list=True),)

    def run(self, ctx: RunContext, images: list[torch.Tensor],
            batch_size: list[int]) -> tuple[Any, ...]:
        size = batch_size[0]
        singles = []
        for index, batch in enumerate(images):
            check_image("RebatchImages", f"images[{index}]", batch)
            singles += [batch[i:i + 1] for i in range(batch.shape[0])]  # (1, H, W, C) each
        chunks = [singles[i:i + size] for i in range(0, len(singles), size)]
        for chunk in chunks:
            sizes = sorted({tuple(s.shape[1:]) for s in chunk})
            if len(sizes) > 1:
                raise ValueError(f"RebatchImages input 'images': images of sizes {sizes} "
                                 f"would share a batch of {size}")
        return ([torch.cat(chunk) for chunk in chunks],)

BATCH_NODES: list[type[Node]] = [GetImageSize, ImageFromBatch, RepeatImageBatch, RebatchImages]
