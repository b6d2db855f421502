"""LatentCompositeMasked: ComfyUI's mask-weighted paste of one latent into another."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import Tensor

from nodes.api import LATENT, MASK, Boolean, Int, Link, Node, Output, RunContext
from nodes.images.compositing import composite
from nodes.payloads import Latent

MAX_RESOLUTION = 16384


class LatentCompositeMasked(Node):
    """Pastes source into destination at (x, y) pixels (÷ 8), weighted by the mask (resized to
    the source; all ones without one). resize_source first resizes the source to the
    destination. The destination's noise mask and batch index are kept."""

    category = "latent"
    inputs = (
        Link("destination", LATENT, tooltip="The latents pasted onto."),
        Link("source", LATENT, tooltip="The latents pasted (repeated to the destination's "
                                       "batch)."),
        Int("x", default=0, min=0, max=MAX_RESOLUTION, step=8, tooltip="Left edge in pixels."),
        Int("y", default=0, min=0, max=MAX_RESOLUTION, step=8, tooltip="Top edge in pixels."),
        Boolean("resize_source", default=False,
                tooltip="Resize the source to the destination's size first."),
        Link("mask", MASK, optional=True, tooltip="Weight of the source (any resolution)."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, destination: Latent, source: Latent, x: int, y: int,
            resize_source: bool, mask: Tensor | None = None) -> tuple[Any, ...]:
        pasted = composite(destination.samples, source.samples, x // 8, y // 8, mask,
                           resize_source)  # (B, C, H, W), a new tensor
        return (dataclasses.replace(destination, samples=pasted),)


LATENT_COMPOSITE = [LatentCompositeMasked]
