"""Morphology and YUV nodes (ComfyUI's ``comfy_extras/nodes_morphology.py``), in plain torch.

ComfyUI calls kornia (0.8.x) with a square kernel of ones; its semantics, reproduced here:
a window of ``k`` pixels per axis starting ``k // 2`` before the pixel (so an even ``k`` reaches
one pixel further back than forward), the same window for erosion and dilation, and "geodesic"
borders: pixels outside the image are ignored. Opening is dilation after erosion, closing the
reverse; gradient = dilation − erosion, top hat = image − opening, bottom hat = closing −
image. Every channel (alpha too) is processed alike.

YUV is kornia's YCbCr: Y = 0.299 R + 0.587 G + 0.114 B, U = (B − Y)·0.564 + 0.5,
V = (R − Y)·0.713 + 0.5; the inverse is clamped to [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from nodes.api import IMAGE, Combo, Int, Link, Node, Output, RunContext
from nodes.images.batch import check_image

OPERATIONS: tuple[str, ...] = ("erode", "dilate", "open", "close", "gradient", "bottom_hat",
                               "top_hat")


def dilate(samples: torch.Tensor, size: int) -> torch.Tensor:
    """Max over each pixel's k × k window of (B, C, H, W); outside pixels are ignored.

    A square's max is the max of its rows' maxima, so two 1-D passes (O(k) per pixel, not
    O(k²)) give exactly the 2-D result."""
    before, after = size // 2, size - size // 2 - 1
    padded = F.pad(samples, (before, after, before, after), value=-torch.inf)
    rows = F.max_pool2d(padded, kernel_size=(size, 1), stride=1)  # (B, C, H, W + k - 1)
    return F.max_pool2d(rows, kernel_size=(1, size), stride=1)  # (B, C, H, W)


def erode(samples: torch.Tensor, size: int) -> torch.Tensor:
    """Min over each pixel's k × k window of (B, C, H, W); outside pixels are ignored."""
    return -dilate(-samples, size)


def morphology(samples: torch.Tensor, operation: str, size: int) -> torch.Tensor:
    """One of :data:`OPERATIONS` on (B, C, H, W)."""
    if operation == "erode":
        return erode(samples, size)
    if operation == "dilate":
        return dilate(samples, size)
    if operation == "open":
        return dilate(erode(samples, size), size)
    if operation == "close":
        return erode(dilate(samples, size), size)
    if operation == "gradient":
        return dilate(samples, size) - erode(samples, size)
    if operation == "top_hat":
        return samples - dilate(erode(samples, size), size)
    if operation == "bottom_hat":
        return erode(dilate(samples, size), size) - samples
    raise ValueError(f"Morphology input 'operation': {operation!r} is unknown; choose one of "
                     f"{OPERATIONS}")


class Morphology(Node):
    """Grey-scale morphology with a square kernel: erode, dilate, open, close, gradient, top
    hat, bottom hat."""

    display_name = "ImageMorphology"
    category = "image/postprocessing"
    inputs = (
        Link("image", IMAGE, tooltip="The images to process."),
        Combo("operation", choices=OPERATIONS, tooltip="The morphological operation."),
        Int("kernel_size", default=3, min=3, max=999, step=1,
            tooltip="Side of the square kernel in pixels."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, operation: str,
            kernel_size: int) -> tuple[Any, ...]:
        check_image("Morphology", "image", image)
        samples = image.movedim(-1, 1)  # (B, C, H, W)
        return (morphology(samples, operation, kernel_size).movedim(1, -1),)


def _rgb(node: str, name: str, image: torch.Tensor) -> None:
    check_image(node, name, image)
    if image.shape[-1] != 3:
        raise ValueError(f"{node} input {name!r}: expected RGB (3 channels), got "
                         f"{image.shape[-1]}")


class ImageRGBToYUV(Node):
    """Splits the images into Y, U and V planes (kornia's YCbCr), each as a grey image."""

    category = "image/batch"
    inputs = (Link("image", IMAGE, tooltip="The RGB images to split."),)
    outputs = (Output(IMAGE, "Y"), Output(IMAGE, "U"), Output(IMAGE, "V"))

    def run(self, ctx: RunContext, image: torch.Tensor) -> tuple[Any, ...]:
        _rgb("ImageRGBToYUV", "image", image)
        r, g, b = image.unbind(-1)  # (B, H, W) each
        y = 0.299 * r + 0.587 * g + 0.114 * b
        planes = (y, (b - y) * 0.564 + 0.5, (r - y) * 0.713 + 0.5)
        return tuple(p[..., None].expand_as(image).contiguous() for p in planes)


class ImageYUVToRGB(Node):
    """Joins Y, U and V images (each averaged over its channels) back into RGB."""

    category = "image/batch"
    inputs = (
        Link("Y", IMAGE, tooltip="The luma images."),
        Link("U", IMAGE, tooltip="The blue-difference images."),
        Link("V", IMAGE, tooltip="The red-difference images."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, Y: torch.Tensor, U: torch.Tensor,
            V: torch.Tensor) -> tuple[Any, ...]:
        for name, plane in (("Y", Y), ("U", U), ("V", V)):
            check_image("ImageYUVToRGB", name, plane)
        y = Y.mean(dim=-1)  # (B, H, W)
        u, v = U.mean(dim=-1) - 0.5, V.mean(dim=-1) - 0.5
        r = y + 1.403 * v
        g = y - 0.714 * v - 0.344 * u
        b = y + 1.773 * u
        return (torch.stack((r, g, b), dim=-1).clamp(0, 1),)  # (B, H, W, 3)


MORPHOLOGY_NODES: list[type[Node]] = [Morphology, ImageRGBToYUV, ImageYUVToRGB]
