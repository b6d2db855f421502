"""Latent nodes: EmptyLatentImage, LatentUpscale, LatentUpscaleBy, LatentComposite."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from nodes import memory_estimates as estimates
from nodes.api import (
    LATENT,
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
from nodes.latents.resample import CROP_METHODS, LATENT_UPSCALE_METHODS, upscale_latent
from nodes.payloads import Latent, empty_latent

MAX_RESOLUTION = 16384
_MIN_UPSCALE = 64  # LatentUpscale's smallest side in pixels
_METHOD_TIP = "How latent samples are resampled (bislerp: spherical, keeps latent norms)."


def _samples(tooltip: str = "The latents.", name: str = "samples") -> Link:
    return Link(name, LATENT, tooltip=tooltip)


class EmptyLatentImage(Node):
    """Create a new batch of empty latent images to be denoised via sampling."""

    display_name = "Empty Latent Image"
    category = "latent"
    inputs = (
        Int("width", default=512, min=16, max=MAX_RESOLUTION, step=8,
            tooltip="The width of the latent images in pixels."),
        Int("height", default=512, min=16, max=MAX_RESOLUTION, step=8,
            tooltip="The height of the latent images in pixels."),
        Int("batch_size", default=1, min=1, max=4096,
            tooltip="The number of latent images in the batch."),
    )
    outputs = (Output(LATENT, tooltip="The empty latent image batch."),)

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, width: int, height: int,
                        batch_size: int) -> MemoryEstimate:
        return estimates.new_tensor(estimates.latent(batch_size, height, width), "latent")

    def run(self, ctx: RunContext, width: int, height: int, batch_size: int) -> tuple[Any, ...]:
        return (empty_latent(batch_size, height, width),)  # (B, 4, H/8, W/8)


def upscale_size(shape: torch.Size, width: int, height: int) -> tuple[int, int]:
    """LatentUpscale's pixel target: 0 keeps the aspect ratio, each side at least 64."""
    h, w = shape[-2], shape[-1]
    if width == 0:
        height = max(_MIN_UPSCALE, height)
        return max(_MIN_UPSCALE, round(w * height / h)), height
    if height == 0:
        width = max(_MIN_UPSCALE, width)
        return width, max(_MIN_UPSCALE, round(h * width / w))
    return max(_MIN_UPSCALE, width), max(_MIN_UPSCALE, height)


class LatentUpscale(Node):
    """Resizes the latents to width × height pixels (÷ 8); 0 for one side keeps the aspect
    ratio, 0 for both leaves them unchanged."""

    display_name = "Upscale Latent"
    category = "latent"
    inputs = (
        _samples(),
        Combo("upscale_method", choices=LATENT_UPSCALE_METHODS, tooltip=_METHOD_TIP),
        Int("width", default=512, min=0, max=MAX_RESOLUTION, step=8,
            tooltip="Target width in pixels; 0 keeps the aspect ratio."),
        Int("height", default=512, min=0, max=MAX_RESOLUTION, step=8,
            tooltip="Target height in pixels; 0 keeps the aspect ratio."),
        Combo("crop", choices=CROP_METHODS,
              tooltip="center: cut the latents to the target aspect ratio first."),
    )
    outputs = (Output(LATENT),)

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, samples: TensorSpec | None,
                        width: int, height: int, **_: Any) -> MemoryEstimate | None:
        if samples is None or len(samples.shape) != 4:
            return None
        if width == 0 and height == 0:
            return MemoryEstimate(outputs=(samples,))
        width, height = upscale_size(samples.shape, width, height)  # type: ignore[arg-type]
        return estimates.resized(samples, height // 8, width // 8, latent_layout=True)

    def run(self, ctx: RunContext, samples: Latent, upscale_method: str, width: int,
            height: int, crop: str) -> tuple[Any, ...]:
        if width == 0 and height == 0:
            return (samples,)
        width, height = upscale_size(samples.samples.shape, width, height)
        resized = upscale_latent(samples.samples, width // 8, height // 8, upscale_method, crop)
        return (dataclasses.replace(samples, samples=resized),)


class LatentUpscaleBy(Node):
    """Resizes the latents by a factor."""

    display_name = "Upscale Latent By"
    category = "latent"
    inputs = (
        _samples(),
        Combo("upscale_method", choices=LATENT_UPSCALE_METHODS, tooltip=_METHOD_TIP),
        Float("scale_by", default=1.5, min=0.01, max=8.0, step=0.01,
              tooltip="The size factor."),
    )
    outputs = (Output(LATENT),)

    @classmethod
    def estimate_memory(cls, ctx: FingerprintContext, samples: TensorSpec | None,
                        scale_by: float, **_: Any) -> MemoryEstimate | None:
        if samples is None or len(samples.shape) != 4:
            return None
        h, w = samples.shape[-2:]
        return estimates.resized(samples, round(h * scale_by), round(w * scale_by),
                                 latent_layout=True)

    def run(self, ctx: RunContext, samples: Latent, upscale_method: str,
            scale_by: float) -> tuple[Any, ...]:
        h, w = samples.samples.shape[-2:]
        width, height = round(w * scale_by), round(h * scale_by)
        resized = upscale_latent(samples.samples, width, height, upscale_method, "disabled")
        return (dataclasses.replace(samples, samples=resized),)


def feather_mask(shape: torch.Size, feather: int, edges: tuple[bool, bool, bool, bool],
                 like: Tensor) -> Tensor:
    """Weights (1 inside) ramping (t + 1) / feather over ``feather`` rows/columns at each edge
    flagged in ``edges`` (top, bottom, left, right); corners multiply."""
    h, w = shape[-2], shape[-1]
    ramp = (torch.arange(feather, dtype=like.dtype, device=like.device) + 1) / feather
    rows = torch.ones(h, dtype=like.dtype, device=like.device)
    cols = torch.ones(w, dtype=like.dtype, device=like.device)
    top, bottom, left, right = edges
    n_h, n_w = min(feather, h), min(feather, w)
    if top:
        rows[:n_h] *= ramp[:n_h]
    if bottom:
        rows[h - n_h:] *= ramp[:n_h].flip(0)
    if left:
        cols[:n_w] *= ramp[:n_w]
    if right:
        cols[w - n_w:] *= ramp[:n_w].flip(0)
    return rows[:, None] * cols[None, :]  # (h, w)


class LatentComposite(Node):
    """Pastes samples_from into samples_to at (x, y) pixels (÷ 8), optionally feathering the
    edges that lie inside samples_to."""

    display_name = "Latent Composite"
    category = "latent"
    inputs = (
        _samples("The latents pasted onto.", "samples_to"),
        _samples("The latents pasted.", "samples_from"),
        Int("x", default=0, min=0, max=MAX_RESOLUTION, step=8, tooltip="Left edge in pixels."),
        Int("y", default=0, min=0, max=MAX_RESOLUTION, step=8, tooltip="Top edge in pixels."),
        Int("feather", default=0, min=0, max=MAX_RESOLUTION, step=8,
            tooltip="Width of the blended border in pixels."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples_to: Latent, samples_from: Latent, x: int, y: int,
            feather: int) -> tuple[Any, ...]:
        x, y, feather = x // 8, y // 8, feather // 8
        target = samples_to.samples
        h_to, w_to = target.shape[-2:]
        source = samples_from.samples[..., : max(h_to - y, 0), : max(w_to - x, 0)]
        out = target.clone()  # (B, C, H, W)
        h, w = source.shape[-2:]
        if h == 0 or w == 0:
            return (dataclasses.replace(samples_to, samples=out),)
        region = out[..., y:y + h, x:x + w]
        if feather == 0:
            region[...] = source
        else:
            edges = (y != 0, y + h < h_to, x != 0, x + w < w_to)
            mask = feather_mask(source.shape, feather, edges, source)  # (h, w)
            region[...] = source * mask + region * (1.0 - mask)
        return (dataclasses.replace(samples_to, samples=out),)


LATENT_OPS = [EmptyLatentImage, LatentUpscale, LatentUpscaleBy, LatentComposite]
