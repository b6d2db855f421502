"""Image and latent nodes: typed inputs with ranges and tooltips, payloads never modified in
place, progress with cancellation, errors naming the input and the bad value."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from nodes.api import IMAGE, LATENT, Float, Int, Link, Node, Output, RunContext
from nodes.payloads import Latent


class Brightness(Node):
    """Scales the brightness of images (clamped to [0, 1])."""

    display_name = "Brightness (example)"
    category = "example"
    inputs = (
        Link("image", IMAGE, tooltip="The images, (B, H, W, C) in [0, 1]."),
        Float("factor", default=1.2, min=0.0, max=4.0, step=0.05,
              tooltip="1 leaves the images as they are; above 1 brightens."),
    )
    outputs = (Output(IMAGE, tooltip="The adjusted images."),)

    def run(self, ctx: RunContext, image: torch.Tensor, factor: float) -> tuple[Any, ...]:
        if image.ndim != 4:
            raise ValueError(f"Brightness: input 'image' must be (B, H, W, C), got "
                             f"{tuple(image.shape)}")
        return ((image * factor).clamp(0.0, 1.0),)  # a new tensor: the input stays as it is


class LatentNoise(Node):
    """Adds seeded Gaussian noise to a latent, one batch item at a time (reporting progress,
    so a cancelled job stops between items)."""

    display_name = "Latent Noise (example)"
    category = "example"
    inputs = (
        Link("samples", LATENT, tooltip="The latent to add noise to."),
        Int("seed", default=0, min=0, max=2**64 - 1, control_after_generate=True,
            tooltip="The noise seed."),
        Float("amount", default=0.1, min=0.0, max=10.0, step=0.01,
              tooltip="The noise's standard deviation."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, seed: int, amount: float
            ) -> tuple[Any, ...]:
        generator = torch.Generator().manual_seed(seed % 2**63)
        batch = samples.samples.shape[0]
        noisy = []
        for index in range(batch):
            item = samples.samples[index:index + 1]  # (1, C, h, w)
            noisy.append(item + amount * torch.randn(item.shape, generator=generator))
            ctx.progress(index + 1, batch)  # raises NodeInterrupted when cancelled
        return (dataclasses.replace(samples, samples=torch.cat(noisy)),)
