"""Mask nodes (ComfyUI's ``comfy_extras/nodes_mask.py`` declarations)."""

from __future__ import annotations

from typing import Any

import torch

from nodes.api import IMAGE, MASK, Boolean, Combo, Float, Int, Link, Node, Output, RunContext
from nodes.images.mask_ops import (
    MASK_OPERATIONS,
    as_mask_batch,
    combine_masks,
    feather_mask,
    grow_mask,
)
from nodes.images.ops import MAX_RESOLUTION

IMAGE_CHANNELS: tuple[str, ...] = ("red", "green", "blue", "alpha")


def _mask_input(tooltip: str = "The mask.") -> Link:
    return Link("mask", MASK, tooltip=tooltip)


class SolidMask(Node):
    """Makes a width × height mask filled with one value."""

    category = "mask"
    inputs = (
        Float("value", default=1.0, min=0.0, max=1.0, step=0.01, tooltip="The mask value."),
        Int("width", default=512, min=1, max=MAX_RESOLUTION, step=1, tooltip="Mask width."),
        Int("height", default=512, min=1, max=MAX_RESOLUTION, step=1, tooltip="Mask height."),
    )
    outputs = (Output(MASK),)

    def run(self, ctx: RunContext, value: float, width: int, height: int) -> tuple[Any, ...]:
        return (torch.full((1, height, width), value, dtype=torch.float32),)  # (1, H, W)


class InvertMask(Node):
    """Inverts the mask (1 − value)."""

    category = "mask"
    inputs = (_mask_input("The mask to invert."),)
    outputs = (Output(MASK),)

    def run(self, ctx: RunContext, mask: torch.Tensor) -> tuple[Any, ...]:
        return (1.0 - mask,)


class CropMask(Node):
    """Cuts a width × height region at (x, y) out of the mask."""

    category = "mask"
    inputs = (
        _mask_input("The mask to crop."),
        Int("x", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Region left edge."),
        Int("y", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Region top edge."),
        Int("width", default=512, min=1, max=MAX_RESOLUTION, step=1, tooltip="Region width."),
        Int("height", default=512, min=1, max=MAX_RESOLUTION, step=1,
            tooltip="Region height."),
    )
    outputs = (Output(MASK),)

    def run(self, ctx: RunContext, mask: torch.Tensor, x: int, y: int, width: int,
            height: int) -> tuple[Any, ...]:
        masks = as_mask_batch(mask)  # (B, H, W)
        if x >= masks.shape[-1] or y >= masks.shape[-2]:
            raise ValueError(f"CropMask: x={x}, y={y} lies outside the "
                             f"{masks.shape[-1]}x{masks.shape[-2]} mask")
        return (masks[:, y:y + height, x:x + width].clone(),)  # (B, h, w)


class MaskComposite(Node):
    """Combines source into destination at (x, y): multiply, add, subtract, or the logical
    and/or/xor of the rounded masks; the result is clamped to [0, 1]."""

    category = "mask"
    inputs = (
        Link("destination", MASK, tooltip="The mask combined into."),
        Link("source", MASK, tooltip="The mask combined."),
        Int("x", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Left edge of source."),
        Int("y", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Top edge of source."),
        Combo("operation", choices=MASK_OPERATIONS, tooltip="How the values combine."),
    )
    outputs = (Output(MASK),)

    def run(self, ctx: RunContext, destination: torch.Tensor, source: torch.Tensor, x: int,
            y: int, operation: str) -> tuple[Any, ...]:
        return (combine_masks(destination, source, x, y, operation),)


class FeatherMask(Node):
    """Fades the mask towards zero near its edges over the given widths."""

    category = "mask"
    inputs = (
        _mask_input("The mask to feather."),
        Int("left", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Fade width, left."),
        Int("top", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Fade width, top."),
        Int("right", default=0, min=0, max=MAX_RESOLUTION, step=1,
            tooltip="Fade width, right."),
        Int("bottom", default=0, min=0, max=MAX_RESOLUTION, step=1,
            tooltip="Fade width, bottom."),
    )
    outputs = (Output(MASK),)

    def run(self, ctx: RunContext, mask: torch.Tensor, left: int, top: int, right: int,
            bottom: int) -> tuple[Any, ...]:
        return (feather_mask(mask, left, top, right, bottom),)


class GrowMask(Node):
    """Grows (expand > 0) or shrinks (expand < 0) the mask by that many pixels."""

    category = "mask"
    inputs = (
        _mask_input("The mask to grow or shrink."),
        Int("expand", default=0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION, step=1,
            tooltip="Pixels to grow (negative: shrink)."),
        Boolean("tapered_corners", default=True,
                tooltip="Grow through edges only, rounding the corners."),
    )
    outputs = (Output(MASK),)

    def run(self, ctx: RunContext, mask: torch.Tensor, expand: int,
            tapered_corners: bool) -> tuple[Any, ...]:
        return (grow_mask(mask, expand, tapered_corners),)


class ThresholdMask(Node):
    """Sets the mask to 1 where it is above the value, else 0."""

    category = "mask"
    inputs = (
        _mask_input("The mask to threshold."),
        Float("value", default=0.5, min=0.0, max=1.0, step=0.01, tooltip="The threshold."),
    )
    outputs = (Output(MASK),)

    def run(self, ctx: RunContext, mask: torch.Tensor, value: float) -> tuple[Any, ...]:
        return ((mask > value).float(),)


class ImageToMask(Node):
    """Takes one channel of the images as a mask."""

    display_name = "Convert Image to Mask"
    category = "mask"
    inputs = (
        Link("image", IMAGE, tooltip="The images."),
        Combo("channel", choices=IMAGE_CHANNELS, tooltip="The channel that becomes the mask."),
    )
    outputs = (Output(MASK),)

    def run(self, ctx: RunContext, image: torch.Tensor, channel: str) -> tuple[Any, ...]:
        index = IMAGE_CHANNELS.index(channel)
        if image.dim() != 4 or index >= image.shape[-1]:
            raise ValueError(f"ImageToMask: channel {channel!r} is not in images of shape "
                             f"{tuple(image.shape)} (B, H, W, C)")
        return (image[:, :, :, index].clone(),)  # (B, H, W)


class MaskToImage(Node):
    """Makes grey images from the mask (the value in all three channels)."""

    display_name = "Convert Mask to Image"
    category = "mask"
    inputs = (_mask_input("The mask to show as an image."),)
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, mask: torch.Tensor) -> tuple[Any, ...]:
        masks = as_mask_batch(mask)  # (B, H, W)
        return (masks[..., None].repeat(1, 1, 1, 3),)  # (B, H, W, 3)


MASK_NODES: list[type[Node]] = [
    ImageToMask, MaskToImage, SolidMask, InvertMask, CropMask, MaskComposite, FeatherMask,
    GrowMask, ThresholdMask,
]
