"""Filter nodes: ImageBlend, ImageBlur, ImageSharpen (ComfyUI's
``comfy_extras/nodes_post_processing.py``) and ImageAddNoise (``nodes_images.py``), in plain
torch.

ComfyUI's Gaussian kernel is sampled on ``linspace(-1, 1, 2r + 1)`` in both axes, so ``sigma``
is relative to the radius, not in pixels; blur and sharpen reflect-pad by the radius.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from nodes.api import IMAGE, Combo, Float, Int, Link, Node, Output, RunContext
from nodes.images.batch import check_image
from nodes.images.resize import upscale_image

BLEND_MODES: tuple[str, ...] = ("normal", "multiply", "screen", "overlay", "soft_light",
                                "difference")


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """(size, size) weights exp(-d² / 2σ²) over [-1, 1]², summing to 1."""
    axis = torch.linspace(-1, 1, size)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    weights = torch.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    return weights / weights.sum()


def filter_image(node: str, image: torch.Tensor, kernel: torch.Tensor,
                 radius: int) -> torch.Tensor:
    """Each channel of (B, H, W, C) convolved with ``kernel`` over a reflect-padded border."""
    height, width = image.shape[1:3]
    if radius >= height or radius >= width:
        raise ValueError(f"{node}: radius {radius} needs images larger than it on both sides "
                         f"(reflect padding), got {width}x{height}")
    channels = image.shape[-1]
    weights = kernel.to(image).repeat(channels, 1, 1).unsqueeze(1)  # (C, 1, k, k)
    samples = F.pad(image.movedim(-1, 1), (radius,) * 4, mode="reflect")  # (B, C, H+2r, W+2r)
    return F.conv2d(samples, weights, groups=channels).movedim(1, -1)  # (B, H, W, C)


class ImageBlur(Node):
    """Gaussian blur (sigma relative to the radius, edges reflected)."""

    category = "image/postprocessing"
    inputs = (
        Link("image", IMAGE, tooltip="The images to blur."),
        Int("blur_radius", default=1, min=1, max=31, step=1,
            tooltip="Kernel radius in pixels (kernel side 2r + 1)."),
        Float("sigma", default=1.0, min=0.1, max=10.0, step=0.1,
              tooltip="Spread of the Gaussian, relative to the radius (1: the kernel's edge)."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, blur_radius: int,
            sigma: float) -> tuple[Any, ...]:
        check_image("ImageBlur", "image", image)
        kernel = gaussian_kernel(2 * blur_radius + 1, sigma)
        return (filter_image("ImageBlur", image, kernel, blur_radius),)


def sharpen_kernel(radius: int, sigma: float, alpha: float) -> torch.Tensor:
    """−10·alpha × Gaussian, with the centre raised so the kernel sums to 1."""
    kernel = gaussian_kernel(2 * radius + 1, sigma) * -(alpha * 10)
    kernel[radius, radius] = kernel[radius, radius] - kernel.sum() + 1.0
    return kernel


class ImageSharpen(Node):
    """Unsharp-style sharpening with a Gaussian surround; the result is clamped to [0, 1]."""

    category = "image/postprocessing"
    inputs = (
        Link("image", IMAGE, tooltip="The images to sharpen."),
        Int("sharpen_radius", default=1, min=1, max=31, step=1,
            tooltip="Kernel radius in pixels (kernel side 2r + 1)."),
        Float("sigma", default=1.0, min=0.1, max=10.0, step=0.01,
              tooltip="Spread of the Gaussian surround, relative to the radius."),
        Float("alpha", default=1.0, min=0.0, max=5.0, step=0.01,
              tooltip="Strength (0 leaves the image unchanged)."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, sharpen_radius: int, sigma: float,
            alpha: float) -> tuple[Any, ...]:
        check_image("ImageSharpen", "image", image)
        kernel = sharpen_kernel(sharpen_radius, sigma, alpha)
        sharpened = filter_image("ImageSharpen", image, kernel, sharpen_radius)
        return (torch.clamp(sharpened, 0, 1),)


class ImageAddNoise(Node):
    """Adds seeded Gaussian noise × strength and clamps to [0, 1] (the same noise as ComfyUI
    for the same seed: torch's CPU generator, float32)."""

    category = "image"
    inputs = (
        Link("image", IMAGE, tooltip="The images to add noise to."),
        Int("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
            tooltip="The random seed used for creating the noise."),
        Float("strength", default=0.5, min=0.0, max=1.0, step=0.01,
              tooltip="Standard deviation of the noise."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image: torch.Tensor, seed: int,
            strength: float) -> tuple[Any, ...]:
        check_image("ImageAddNoise", "image", image)
        generator = torch.Generator(device="cpu").manual_seed(seed)  # private, never global
        noise = torch.randn(image.size(), generator=generator, device="cpu").to(image)
        return (torch.clip(image + strength * noise, min=0.0, max=1.0),)


def blend(image1: torch.Tensor, image2: torch.Tensor, mode: str) -> torch.Tensor:
    """The blend mode's result of image2 over image1 (before mixing by the factor)."""
    if mode == "normal":
        return image2
    if mode == "multiply":
        return image1 * image2
    if mode == "screen":
        return 1 - (1 - image1) * (1 - image2)
    if mode == "overlay":
        return torch.where(image1 <= 0.5, 2 * image1 * image2,
                           1 - 2 * (1 - image1) * (1 - image2))
    if mode == "soft_light":
        lifted = torch.where(image1 <= 0.25, ((16 * image1 - 12) * image1 + 4) * image1,
                             torch.sqrt(image1))
        return torch.where(image2 <= 0.5, image1 - (1 - 2 * image2) * image1 * (1 - image1),
                           image1 + (2 * image2 - 1) * (lifted - image1))
    if mode == "difference":
        return image1 - image2
    raise ValueError(f"ImageBlend input 'blend_mode': {mode!r} is unknown; choose one of "
                     f"{BLEND_MODES}")


class ImageBlend(Node):
    """Blends image2 over image1 with a blend mode, mixed by blend_factor and clamped; image2
    is resized (bicubic, centre crop) to image1's size first."""

    category = "image/postprocessing"
    inputs = (
        Link("image1", IMAGE, tooltip="The base images."),
        Link("image2", IMAGE, tooltip="The images blended over them."),
        Float("blend_factor", default=0.5, min=0.0, max=1.0, step=0.01,
              tooltip="0 keeps image1, 1 gives the full blend result."),
        Combo("blend_mode", choices=BLEND_MODES, tooltip="How the two images combine."),
    )
    outputs = (Output(IMAGE),)

    def run(self, ctx: RunContext, image1: torch.Tensor, image2: torch.Tensor,
            blend_factor: float, blend_mode: str) -> tuple[Any, ...]:
        check_image("ImageBlend", "image1", image1)
        check_image("ImageBlend", "image2", image2)
        image2 = image2.to(image1.device)
        if image1.shape[1:3] != image2.shape[1:3]:
            image2 = upscale_image(image2, image1.shape[2], image1.shape[1], "bicubic", "center")
        if image1.shape[-1] != image2.shape[-1] or (
                image1.shape[0] != image2.shape[0] and 1 not in (image1.shape[0],
                                                                 image2.shape[0])):
            raise ValueError(f"ImageBlend: image1 {tuple(image1.shape)} and image2 "
                             f"{tuple(image2.shape)} need the same channels and batches of "
                             "equal size (or one of 1)")
        mixed = image1 * (1 - blend_factor) + blend(image1, image2, blend_mode) * blend_factor
        return (torch.clamp(mixed, 0, 1),)


FILTER_NODES: list[type[Node]] = [ImageBlend, ImageBlur, ImageSharpen, ImageAddNoise]
