"""Latent geometry with ComfyUI's semantics: crop, flip, rotate, concatenate, cut.

Every node keeps the input's noise mask and batch index, as ComfyUI's copy of the LATENT dict
does (the mask is not cropped or rotated along with the samples).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from nodes.api import LATENT, Combo, Int, Link, Node, Output, RunContext
from nodes.images.resize import repeat_to_batch
from nodes.payloads import Latent

MAX_RESOLUTION = 16384
FLIP_METHODS = ("x-axis: vertically", "y-axis: horizontally")
ROTATIONS = ("none", "90 degrees", "180 degrees", "270 degrees")
CONCAT_DIMS = ("x", "-x", "y", "-y", "t", "-t")
CUT_DIMS = ("x", "y", "t")
_MIN_CROP = 8  # latent samples (64 pixels) ComfyUI keeps right/below x and y


def _samples(tooltip: str = "The latents.", name: str = "samples") -> Link:
    return Link(name, LATENT, tooltip=tooltip)


def _pixels(name: str, default: int, low: int, tooltip: str) -> Int:
    return Int(name, default=default, min=low, max=MAX_RESOLUTION, step=8, tooltip=tooltip)


class LatentCrop(Node):
    """Cuts a width × height region at (x, y) (pixels, ÷ 8) out of the latents; x and y are
    clamped so that at least 64 pixels remain to their right and below."""

    display_name = "Crop Latent"
    category = "latent/transform"
    inputs = (
        _samples("The latents to crop."),
        _pixels("width", 512, 64, "Region width in pixels."),
        _pixels("height", 512, 64, "Region height in pixels."),
        _pixels("x", 0, 0, "Region left edge in pixels."),
        _pixels("y", 0, 0, "Region top edge in pixels."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, width: int, height: int, x: int,
            y: int) -> tuple[Any, ...]:
        source = samples.samples
        h, w = source.shape[-2], source.shape[-1]
        # ComfyUI's clamp; below 64 px it goes negative and slices from the end, as in Python
        left, top = min(x // 8, w - _MIN_CROP), min(y // 8, h - _MIN_CROP)
        cropped = source[:, :, top:top + height // 8, left:left + width // 8]
        return (dataclasses.replace(samples, samples=cropped),)


class LatentFlip(Node):
    """Mirrors the latents: 'x-axis' flips top and bottom, 'y-axis' left and right."""

    display_name = "Flip Latent"
    category = "latent/transform"
    inputs = (_samples("The latents to flip."),
              Combo("flip_method", choices=FLIP_METHODS, tooltip="The axis to flip across."))
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, flip_method: str) -> tuple[Any, ...]:
        if flip_method not in FLIP_METHODS:
            raise ValueError(f"LatentFlip input 'flip_method': {flip_method!r} is not one of "
                             f"{list(FLIP_METHODS)}")
        dim = 2 if flip_method.startswith("x") else 3
        return (dataclasses.replace(samples, samples=torch.flip(samples.samples, dims=[dim])),)


class LatentRotate(Node):
    """Rotates the latents clockwise by a multiple of 90 degrees."""

    display_name = "Rotate Latent"
    category = "latent/transform"
    inputs = (_samples("The latents to rotate."),
              Combo("rotation", choices=ROTATIONS, tooltip="The clockwise rotation."))
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, rotation: str) -> tuple[Any, ...]:
        if rotation not in ROTATIONS:
            raise ValueError(f"LatentRotate input 'rotation': {rotation!r} is not one of "
                             f"{list(ROTATIONS)}")
        turns = ROTATIONS.index(rotation)
        rotated = torch.rot90(samples.samples, k=turns, dims=[3, 2])  # (B, C, W, H) when odd
        return (dataclasses.replace(samples, samples=rotated),)


def _axis(dim: str) -> int:
    """ComfyUI's axis letters from the end: x = width, y = height, t = the axis before them
    (the channels of an image latent)."""
    return -1 if "x" in dim else -2 if "y" in dim else -3


class LatentConcat(Node):
    """Joins samples2 to samples1 along x (right), y (below) or t; '-' puts samples2 first.
    samples2 is repeated or cut to samples1's batch."""

    category = "latent/advanced"
    inputs = (
        _samples("The first latents.", "samples1"),
        _samples("The latents joined on.", "samples2"),
        Combo("dim", choices=CONCAT_DIMS, tooltip="The axis; '-' puts samples2 first."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples1: Latent, samples2: Latent,
            dim: str) -> tuple[Any, ...]:
        if dim not in CONCAT_DIMS:
            raise ValueError(f"LatentConcat input 'dim': {dim!r} is not one of "
                             f"{list(CONCAT_DIMS)}")
        s1 = samples1.samples
        s2 = repeat_to_batch(samples2.samples, s1.shape[0])
        parts = (s2, s1) if dim.startswith("-") else (s1, s2)
        axis = _axis(dim)
        others = [i for i in range(-3, 0) if i != axis]
        if [s1.shape[i] for i in others] != [s2.shape[i] for i in others]:
            raise ValueError(f"LatentConcat: samples1 {tuple(s1.shape)} and samples2 "
                             f"{tuple(s2.shape)} differ off the {dim!r} axis")
        return (dataclasses.replace(samples1, samples=torch.cat(parts, dim=axis)),)


class LatentCut(Node):
    """Keeps `amount` rows, columns or t-slices from `index` (negative: from the end),
    clamped to the latents."""

    category = "latent/advanced"
    inputs = (
        _samples("The latents to cut."),
        Combo("dim", choices=CUT_DIMS, tooltip="The axis: x columns, y rows, t slices."),
        Int("index", default=0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION, step=1,
            tooltip="The first one kept; negative counts from the end."),
        Int("amount", default=1, min=1, max=MAX_RESOLUTION, step=1,
            tooltip="How many are kept."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, dim: str, index: int,
            amount: int) -> tuple[Any, ...]:
        if dim not in CUT_DIMS:
            raise ValueError(f"LatentCut input 'dim': {dim!r} is not one of {list(CUT_DIMS)}")
        source = samples.samples
        axis = source.ndim + _axis(dim)
        size = source.shape[axis]
        if index >= 0:
            index = min(index, size - 1)
            amount = min(size - index, amount)
        else:
            index = max(index, -size)
            amount = min(-index, amount)
        return (dataclasses.replace(samples, samples=torch.narrow(source, axis, index, amount)),)


LATENT_TRANSFORMS = [LatentCrop, LatentFlip, LatentRotate, LatentConcat, LatentCut]
