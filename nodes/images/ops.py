"""Image nodes: scale, pad, invert, batch, crop, empty, composite (ComfyUI's declarations)."""

from __future__ import annotations

import math
from typing import Any

import torch

from nodes import memory_estimates as estimates
from nodes.api import (
    IMAGE,
    MASK,
    Boolean,
    Combo,
    FingerprintContext,
    Float,
    Int,
    Link,
    MemoryEstimate,
    Node,
    Output,
    RunContext,
    TensorSpec,
)
from nodes.images.compositing import composite, match_channels, pad_for_outpaint
from nodes.images.resize import CROP_METHODS, UPSCALE_METHODS, upscale_image

MAX_RESOLUTION = 16384

_METHOD_TIP = "How pixels are resampled."


def _check_image(image: torch.Tensor, name: str = "image") -> None:
    if image.dim() != 4:
        raise ValueError(f"{name}: expected an IMAGE (B, H, W, C), got {tuple(image.shape)}")


class ImageScale(Node):
    """Resizes the images to width × height; 0 for one side keeps the aspect ratio, 0 for both
    leaves the images unchanged."""

    display_name = "Upscale Image"
    category = "image/upscaling"
    inputs = (
        Link("image", IMAGE, tooltip="The images to resize."),
        Combo("upscale_method", choices=UPSCALE_METHODS, tooltip=_METHOD_TIP),
        Int("width", default=512, min=0, max=MAX_RESOLUTION, step=1,
            tooltip="Target width; 0 keeps the aspect ratio."),
        Int("height", default=512, min=0, max=MAX_RESOLUTION, step=1,
            tooltip="Target height; 0 keeps the aspect ratio."),
        Combo("crop", choices=CROP_METHODS,
              tooltip="center: cut the source to the target aspect ratio first."),
    )
    outputs = (Output(IMAGE),)

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, image: TensorSpec | None, width: int,
                        height: int, **_: Any) -> MemoryEstimate | None:
        if width == 0 and height == 0:
            return MemoryEstimate(outputs=(image,))
        if width == 0 or height == 0:  # the other side follows the source's aspect ratio
            if image is None or len(image.shape) != 4:
                return None
            old_h, old_w = image.shape[1], image.shape[2]
            width = width or max(1, round(old_w * height / old_h))
            height = height or max(1, round(old_h * width / old_w))
        # unknown source: at least one RGB image of the target size
        return estimates.resized(image or estimates.image(1, 1, 1), height, width,
                                 latent_layout=False)

    def run(self, ctx: RunContext, image: torch.Tensor, upscale_method: str, width: int,
            height: int, crop: str) -> tuple[Any, ...]:
        _check_image(image)
        if width == 0 and height == 0:
            return (image,)
        old_h, old_w = image.shape[1], image.shape[2]
        if width == 0:
            width = max(1, round(old_w * height / old_h))
        elif height == 0:
            height = max(1, round(old_h * width / old_w))
        return (upscale_image(image, width, height, upscale_method, crop),)


class ImageScaleBy(Node):
    """Resizes the images by a factor (sides rounded to whole pixels)."""

    display_name = "Upscale Image By"
    category = "image/upscaling"
    inputs = (
        Link("image", IMAGE, tooltip="The images to resize."),
        Combo("upscale_method", choices=UPSCALE_METHODS, tooltip=_METHOD_TIP),
        Float("scale_by", default=1.0, min=0.01, max=8.0, step=0.01,
              tooltip="The factor applied to both sides."),
    )
    outputs = (Output(IMAGE),)

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, image: TensorSpec | None,
                        scale_by: float, **_: Any) -> MemoryEstimate | None:
        if image is None or len(image.shape) != 4:
            return None
        height, width = round(image.shape[1] * scale_by), round(image.shape[2] * scale_by)
        return estimates.resized(image, max(1, height), max(1, width), latent_layout=False)

    def run(self, ctx: RunContext, image: torch.Tensor, upscale_method: str,
            scale_by: float) -> tuple[Any, ...]:
        _check_image(image)
        width, height = round(image.shape[2] * scale_by), round(image.shape[1] * scale_by)
        if width < 1 or height < 1:
            raise ValueError(f"scale_by {scale_by} makes the {image.shape[2]}x{image.shape[1]} "
                             f"images {width}x{height}, which is empty")
        return (upscale_image(image, width, height, upscale_method),)


class ImageScaleToTotalPixels(Node):
    """Resizes the images to about the given number of megapixels (1 MP = 1024 × 1024),
    keeping the aspect ratio."""

    category = "image/upscaling"
    inputs = (
        Link("image", IMAGE, tooltip="The images to resize."),
        Combo("upscale_method", choices=UPSCALE_METHODS, tooltip=_METHOD_TIP),
        Float("megapixels", default=1.0, min=0.01, max=16.0, step=0.01,
              tooltip="Target size in megapixels of 1024 × 1024 pixels."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, upscale_method: str,
            megapixels: float) -> tuple[Any, ...]:
        _check_image(image)
        total = int(megapixels * 1024 * 1024)
        scale_by = math.sqrt(total / (image.shape[2] * image.shape[1]))
        width, height = round(image.shape[2] * scale_by), round(image.shape[1] * scale_by)
        return (upscale_image(image, max(1, width), max(1, height), upscale_method),)


class ImagePadForOutpaint(Node):
    """Pads the images with grey for outpainting; the mask is 1 over the padding and fades
    into the image over `feathering` pixels from each padded side."""

    display_name = "Pad Image for Outpainting"
    category = "image"
    inputs = (
        Link("image", IMAGE, tooltip="The images to pad."),
        Int("left", default=0, min=0, max=MAX_RESOLUTION, step=8, tooltip="Pixels added left."),
        Int("top", default=0, min=0, max=MAX_RESOLUTION, step=8, tooltip="Pixels added on top."),
        Int("right", default=0, min=0, max=MAX_RESOLUTION, step=8,
            tooltip="Pixels added right."),
        Int("bottom", default=0, min=0, max=MAX_RESOLUTION, step=8,
            tooltip="Pixels added below."),
        Int("feathering", default=40, min=0, max=MAX_RESOLUTION, step=1,
            tooltip="Width of the mask's fade into the image (off unless less than half the "
                    "image's width and height)."),
    )
    outputs = (Output(IMAGE), Output(MASK))

    def run(self, ctx: RunContext, image: torch.Tensor, left: int, top: int, right: int,
            bottom: int, feathering: int) -> tuple[Any, ...]:
        _check_image(image)
        return pad_for_outpaint(image, left, top, right, bottom, feathering)


class ImageInvert(Node):
    """Inverts the images (1 − value, every channel)."""

    display_name = "Invert Image"
    category = "image"
    inputs = (Link("image", IMAGE, tooltip="The images to invert."),)
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor) -> tuple[Any, ...]:
        return (1.0 - image,)


class ImageBatch(Node):
    """Joins two image batches; image2 is resized (bilinear, centre crop) to image1's size
    and given an alpha channel of 1 if only image1 has one."""

    display_name = "Batch Images"
    category = "image"
    inputs = (
        Link("image1", IMAGE, tooltip="The first images."),
        Link("image2", IMAGE, tooltip="The images appended after image1."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image1: torch.Tensor,
            image2: torch.Tensor) -> tuple[Any, ...]:
        _check_image(image1, "image1")
        _check_image(image2, "image2")
        if image1.shape[-1] < image2.shape[-1]:
            image1 = match_channels(image2, image1)
        elif image1.shape[-1] > image2.shape[-1]:
            image2 = match_channels(image1, image2)
        if image1.shape[1:] != image2.shape[1:]:
            image2 = upscale_image(image2, image1.shape[2], image1.shape[1], "bilinear", "center")
        return (torch.cat((image1, image2.to(image1.dtype)), dim=0),)


class ImageCrop(Node):
    """Cuts a width × height region at (x, y) out of the images (x, y clamped inside)."""

    display_name = "Image Crop"
    category = "image/transform"
    inputs = (
        Link("image", IMAGE, tooltip="The images to crop."),
        Int("width", default=512, min=1, max=MAX_RESOLUTION, step=1, tooltip="Region width."),
        Int("height", default=512, min=1, max=MAX_RESOLUTION, step=1,
            tooltip="Region height."),
        Int("x", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Region left edge."),
        Int("y", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Region top edge."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, width: int, height: int, x: int,
            y: int) -> tuple[Any, ...]:
        _check_image(image)
        x = min(x, image.shape[2] - 1)
        y = min(y, image.shape[1] - 1)
        return (image[:, y:y + height, x:x + width, :].clone(),)  # (B, h, w, C)


class EmptyImage(Node):
    """Makes a batch of images of one colour (0xRRGGBB)."""

    category = "image"
    inputs = (
        Int("width", default=512, min=1, max=MAX_RESOLUTION, step=1, tooltip="Image width."),
        Int("height", default=512, min=1, max=MAX_RESOLUTION, step=1, tooltip="Image height."),
        Int("batch_size", default=1, min=1, max=4096, tooltip="Number of images."),
        Int("color", default=0, min=0, max=0xFFFFFF, step=1, tooltip="Colour as 0xRRGGBB."),
    )
    outputs = (Output(IMAGE),)

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, width: int, height: int,
                        batch_size: int, **_: Any) -> MemoryEstimate:
        return estimates.new_tensor(estimates.image(batch_size, height, width), "image")

    def run(self, ctx: RunContext, width: int, height: int, batch_size: int,
            color: int) -> tuple[Any, ...]:
        rgb = [((color >> shift) & 0xFF) / 0xFF for shift in (16, 8, 0)]
        pixel = torch.tensor(rgb, dtype=torch.float32)  # (3,)
        return (pixel.expand(batch_size, height, width, 3).clone(),)  # (B, H, W, 3)


class ImageCompositeMasked(Node):
    """Pastes source onto destination at (x, y), weighted by the optional mask."""

    category = "image"
    inputs = (
        Link("destination", IMAGE, tooltip="The images pasted onto."),
        Link("source", IMAGE, tooltip="The images pasted."),
        Int("x", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Left edge of the paste."),
        Int("y", default=0, min=0, max=MAX_RESOLUTION, step=1, tooltip="Top edge of the paste."),
        Boolean("resize_source", default=False,
                tooltip="Resize the source to the destination's size first."),
        Link("mask", MASK, optional=True, tooltip="1 takes the source, 0 keeps the destination."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, destination: torch.Tensor, source: torch.Tensor, x: int,
            y: int, resize_source: bool, mask: torch.Tensor | None = None) -> tuple[Any, ...]:
        _check_image(destination, "destination")
        _check_image(source, "source")
        source = match_channels(destination, source)
        pasted = composite(destination.movedim(-1, 1), source.movedim(-1, 1), x, y, mask,
                           resize_source)  # (B, C, H, W)
        return (pasted.movedim(1, -1),)


IMAGE_OPS: list[type[Node]] = [
    ImageScale, ImageScaleBy, ImageScaleToTotalPixels, ImagePadForOutpaint, ImageInvert,
    ImageBatch, ImageCrop, EmptyImage, ImageCompositeMasked,
]
