"""Latent arithmetic with ComfyUI's semantics: add, subtract, multiply, interpolate, blend.

The second latent is first brought to the first one's shape as ComfyUI does: resized
(bilinear, centre-cropped to the aspect ratio) when its (C, H, W) differ, then repeated or cut
to the first one's batch. The output keeps the first latent's noise mask and batch index.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from nodes.api import LATENT, Float, Link, Node, Output, RunContext
from nodes.images.resize import repeat_to_batch
from nodes.latents.resample import upscale_latent
from nodes.payloads import Latent


def _latent(name: str, tooltip: str) -> Link:
    return Link(name, LATENT, tooltip=tooltip)


def reshape_like(target: Tensor, latent: Tensor, *, node: str, repeat_batch: bool = True) -> Tensor:
    """``latent`` (b, c, h, w) resized to ``target``'s (H, W) when its (c, h, w) differ, then
    repeated or cut to ``target``'s batch (unless ``repeat_batch`` is False)."""
    if tuple(latent.shape[1:]) != tuple(target.shape[1:]):
        if latent.shape[1] != target.shape[1]:
            raise ValueError(f"{node}: samples2 has {latent.shape[1]} channels, samples1 has "
                             f"{target.shape[1]}; latents of different models do not mix")
        latent = upscale_latent(latent, target.shape[-1], target.shape[-2], "bilinear", "center")
    return repeat_to_batch(latent, target.shape[0]) if repeat_batch else latent


class LatentAdd(Node):
    """Adds samples2 to samples1 (samples2 resized and repeated to samples1's shape)."""

    category = "latent/advanced"
    inputs = (_latent("samples1", "The latents added to."),
              _latent("samples2", "The latents added."))
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples1: Latent, samples2: Latent) -> tuple[Any, ...]:
        s1 = samples1.samples
        s2 = reshape_like(s1, samples2.samples, node=self.type_name)
        return (dataclasses.replace(samples1, samples=s1 + s2),)


class LatentSubtract(Node):
    """Subtracts samples2 from samples1 (samples2 resized and repeated to samples1's shape)."""

    category = "latent/advanced"
    inputs = (_latent("samples1", "The latents subtracted from."),
              _latent("samples2", "The latents subtracted."))
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples1: Latent, samples2: Latent) -> tuple[Any, ...]:
        s1 = samples1.samples
        s2 = reshape_like(s1, samples2.samples, node=self.type_name)
        return (dataclasses.replace(samples1, samples=s1 - s2),)


class LatentMultiply(Node):
    """Multiplies the latents by a number."""

    category = "latent/advanced"
    inputs = (
        _latent("samples", "The latents to scale."),
        Float("multiplier", default=1.0, min=-10.0, max=10.0, step=0.01,
              tooltip="The factor."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, multiplier: float) -> tuple[Any, ...]:
        return (dataclasses.replace(samples, samples=samples.samples * multiplier),)


def _norm_broadcast_check(samples: Tensor, node: str) -> None:
    """ComfyUI divides (B, C, H, W) latents by their (B, H, W) channel norms without keeping the
    channel axis, so torch aligns the norms' batch axis with the channel axis: that works only
    for a batch of 1 (or of C, where sample c's norm scales channel c of every sample). We do
    the same arithmetic and refuse the batch sizes ComfyUI fails on."""
    batch, channels = samples.shape[0], samples.shape[1]
    if batch not in (1, channels):
        raise ValueError(f"{node}: ComfyUI's interpolation works on a batch of 1 or of "
                         f"{channels} latents; got a batch of {batch}")


def interpolate_latents(s1: Tensor, s2: Tensor, ratio: float) -> Tensor:
    """ComfyUI's LatentInterpolate: directions (per position, over channels) blended linearly
    and renormalised, lengths blended linearly; ``ratio`` 1 gives s1. Zero vectors count as no
    direction (NaN → 0)."""
    m1 = torch.linalg.vector_norm(s1, dim=1)  # (B, H, W): broadcast as ComfyUI does
    m2 = torch.linalg.vector_norm(s2, dim=1)
    d1 = torch.nan_to_num(s1 / m1)
    d2 = torch.nan_to_num(s2 / m2)
    blended = d1 * ratio + d2 * (1.0 - ratio)
    mt = torch.linalg.vector_norm(blended, dim=1)
    direction = torch.nan_to_num(blended / mt)
    return direction * (m1 * ratio + m2 * (1.0 - ratio))


class LatentInterpolate(Node):
    """Interpolates between two latents per position: directions and lengths blend separately
    (ratio 1 gives samples1). As in ComfyUI, for a batch of 1 (or of as many latents as
    channels)."""

    category = "latent/advanced"
    inputs = (
        _latent("samples1", "The latents at ratio 1."),
        _latent("samples2", "The latents at ratio 0."),
        Float("ratio", default=1.0, min=0.0, max=1.0, step=0.01,
              tooltip="Weight of samples1."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples1: Latent, samples2: Latent,
            ratio: float) -> tuple[Any, ...]:
        s1 = samples1.samples
        s2 = reshape_like(s1, samples2.samples, node=self.type_name)
        _norm_broadcast_check(s1, self.type_name)
        return (dataclasses.replace(samples1, samples=interpolate_latents(s1, s2, ratio)),)


class LatentBlend(Node):
    """Blends samples1 · blend_factor + samples2 · (1 − blend_factor); samples2 is resized
    (bicubic, centre-cropped) when the shapes differ."""

    display_name = "Latent Blend"
    category = "_for_testing"
    inputs = (
        _latent("samples1", "The latents weighted by blend_factor."),
        _latent("samples2", "The latents weighted by 1 − blend_factor."),
        Float("blend_factor", default=0.5, min=0, max=1, step=0.01,
              tooltip="Weight of samples1."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples1: Latent, samples2: Latent,
            blend_factor: float) -> tuple[Any, ...]:
        s1, s2 = samples1.samples, samples2.samples
        if s1.shape != s2.shape:
            s2 = upscale_latent(s2, s1.shape[-1], s1.shape[-2], "bicubic", "center")
        blended = s1 * blend_factor + s2 * (1 - blend_factor)
        return (dataclasses.replace(samples1, samples=blended),)


LATENT_ARITHMETIC = [LatentAdd, LatentSubtract, LatentMultiply, LatentInterpolate, LatentBlend]
