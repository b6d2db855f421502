"""Transform nodes: ImageFlip, ImageRotate, ImageScaleToMaxDimension, ResizeAndPadImage,
ImageStitch (ComfyUI's ``comfy_extras/nodes_images.py`` declarations and arithmetic)."""

from __future__ import annotations

from typing import Any

import torch

from nodes.api import IMAGE, Boolean, Combo, Int, Link, Node, Output, RunContext
from nodes.images.batch import check_image
from nodes.images.ops import MAX_RESOLUTION
from nodes.images.resize import upscale
from nodes.images.stitch import DIRECTIONS, SPACING_COLORS, stitch

FLIP_METHODS: tuple[str, ...] = ("x-axis: vertically", "y-axis: horizontally")
ROTATIONS: tuple[str, ...] = ("none", "90 degrees", "180 degrees", "270 degrees")
# ComfyUI lists "bilinear" twice here; kept, so saved workflows and /object_info match.
MAX_DIMENSION_METHODS: tuple[str, ...] = ("area", "lanczos", "bilinear", "nearest-exact",
                                          "bilinear", "bicubic")
PAD_METHODS: tuple[str, ...] = ("area", "bicubic", "nearest-exact", "bilinear", "lanczos")


class ImageFlip(Node):
    """Mirrors the images: across the x-axis (upside down) or the y-axis (left to right)."""

    category = "image/transform"
    inputs = (
        Link("image", IMAGE, tooltip="The images to flip."),
        Combo("flip_method", choices=FLIP_METHODS,
              tooltip="x-axis flips vertically, y-axis horizontally."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, flip_method: str) -> tuple[Any, ...]:
        check_image("ImageFlip", "image", image)
        dim = 1 if flip_method.startswith("x") else 2  # (B, H, W, C): rows or columns
        return (torch.flip(image, dims=[dim]),)


class ImageRotate(Node):
    """Rotates the images clockwise by a multiple of 90 degrees."""

    category = "image/transform"
    inputs = (
        Link("image", IMAGE, tooltip="The images to rotate."),
        Combo("rotation", choices=ROTATIONS, tooltip="Clockwise rotation."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, rotation: str) -> tuple[Any, ...]:
        check_image("ImageRotate", "image", image)
        turns = ROTATIONS.index(rotation)
        if turns == 0:
            return (image,)
        return (torch.rot90(image, k=turns, dims=[2, 1]),)  # clockwise in (H, W)


class ImageScaleToMaxDimension(Node):
    """Resizes the images so that their longer side is `largest_size`, keeping the aspect
    ratio (the shorter side rounded)."""

    category = "image/upscaling"
    inputs = (
        Link("image", IMAGE, tooltip="The images to resize."),
        Combo("upscale_method", choices=MAX_DIMENSION_METHODS, tooltip="How pixels are "
              "resampled."),
        Int("largest_size", default=512, min=0, max=MAX_RESOLUTION, step=1,
            tooltip="Length of the longer side after resizing."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, upscale_method: str,
            largest_size: int) -> tuple[Any, ...]:
        check_image("ImageScaleToMaxDimension", "image", image)
        height, width = image.shape[1], image.shape[2]
        if height > width:
            width, height = round(width / height * largest_size), largest_size
        elif width > height:
            width, height = largest_size, round(height / width * largest_size)
        else:
            width = height = largest_size
        if width < 1 or height < 1:
            raise ValueError(f"ImageScaleToMaxDimension input 'largest_size': {largest_size} "
                             f"makes the {image.shape[2]}x{image.shape[1]} images "
                             f"{width}x{height}, which is empty")
        samples = image.movedim(-1, 1)  # (B, C, H, W)
        return (upscale(samples, width, height, upscale_method).movedim(1, -1),)


class ResizeAndPadImage(Node):
    """Fits the images inside target_width × target_height (aspect kept, sides truncated to
    whole pixels) and pads the rest with white or black, centred."""

    category = "image/transform"
    inputs = (
        Link("image", IMAGE, tooltip="The images to fit."),
        Int("target_width", default=512, min=1, max=MAX_RESOLUTION, step=1,
            tooltip="Output width."),
        Int("target_height", default=512, min=1, max=MAX_RESOLUTION, step=1,
            tooltip="Output height."),
        Combo("padding_color", choices=("white", "black"), tooltip="Colour of the padding."),
        Combo("interpolation", choices=PAD_METHODS, tooltip="How pixels are resampled."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, target_width: int, target_height: int,
            padding_color: str, interpolation: str) -> tuple[Any, ...]:
        check_image("ResizeAndPadImage", "image", image)
        batch, height, width, channels = image.shape
        scale = min(target_width / width, target_height / height)
        new_width, new_height = int(width * scale), int(height * scale)
        resized = upscale(image.movedim(-1, 1), new_width, new_height, interpolation)
        padded = torch.full((batch, channels, target_height, target_width),
                            0.0 if padding_color == "black" else 1.0, dtype=image.dtype,
                            device=image.device)  # (B, C, th, tw)
        top, left = (target_height - new_height) // 2, (target_width - new_width) // 2
        padded[:, :, top:top + new_height, left:left + new_width] = resized
        return (padded.movedim(1, -1),)  # (B, th, tw, C)


class ImageStitch(Node):
    """Stitches image2 to image1 in the given direction (image1 unchanged without image2),
    optionally with spacing between them."""

    display_name = "Image Stitch"
    category = "image/transform"
    inputs = (
        Link("image1", IMAGE, tooltip="The images stitched to."),
        Combo("direction", choices=DIRECTIONS, default="right",
              tooltip="The side of image1 where image2 goes."),
        Boolean("match_image_size", default=True,
                tooltip="Resize image2 (Lanczos, aspect kept) to image1's height (left/right) "
                        "or width (up/down); off: pad the smaller one, centred."),
        Int("spacing_width", default=0, min=0, max=1024, step=2,
            tooltip="Pixels of spacing between the images (made even)."),
        Combo("spacing_color", choices=tuple(SPACING_COLORS), default="white",
              tooltip="Colour of the spacing (and of the padding for white or black)."),
        Link("image2", IMAGE, optional=True, tooltip="The images stitched on."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image1: torch.Tensor, direction: str,
            match_image_size: bool, spacing_width: int, spacing_color: str,
            image2: torch.Tensor | None = None) -> tuple[Any, ...]:
        check_image("ImageStitch", "image1", image1)
        if image2 is None:
            return (image1,)
        check_image("ImageStitch", "image2", image2)
        return (stitch(image1, image2, direction, match_image_size, spacing_width,
                       spacing_color),)


TRANSFORM_NODES: list[type[Node]] = [
    ImageFlip, ImageRotate, ImageScaleToMaxDimension, ResizeAndPadImage, ImageStitch,
]
