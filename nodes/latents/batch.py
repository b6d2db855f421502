"""Latent batch nodes: LatentFromBatch, RepeatLatentBatch, and SetLatentNoiseMask.

``batch_index`` records each sample's position in the batch it came from, so the sampler
draws the same initial noise for it as it would in the full batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import Tensor

from nodes.api import LATENT, MASK, Int, Link, Node, Output, RunContext
from nodes.images.resize import repeat_to_batch
from nodes.payloads import Latent


def _samples() -> Link:
    return Link("samples", LATENT, tooltip="The latents.")


class LatentFromBatch(Node):
    """Picks `length` latents starting at `batch_index` (clamped to the batch)."""

    display_name = "Latent From Batch"
    category = "latent/batch"
    inputs = (
        _samples(),
        Int("batch_index", default=0, min=0, max=63, tooltip="The first latent to take."),
        Int("length", default=1, min=1, max=64, tooltip="How many latents to take."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, batch_index: int,
            length: int) -> tuple[Any, ...]:
        batch = samples.samples.shape[0]
        start = min(batch - 1, batch_index)
        length = min(batch - start, length)
        picked = samples.samples[start:start + length].clone()  # (length, C, H, W)
        mask = samples.noise_mask
        if mask is not None:
            if mask.shape[0] == 1:
                mask = mask.clone()
            else:
                mask = repeat_to_batch(mask, batch)[start:start + length].clone()
        if samples.batch_index is None:
            index = tuple(range(start, start + length))
        else:
            index = samples.batch_index[start:start + length]
        return (Latent(picked, mask, index),)


class RepeatLatentBatch(Node):
    """Repeats the whole batch `amount` times; batch indices continue past the originals."""

    display_name = "Repeat Latent Batch"
    category = "latent/batch"
    inputs = (_samples(), Int("amount", default=1, min=1, max=64, tooltip="How many copies."))
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, amount: int) -> tuple[Any, ...]:
        source = samples.samples
        repeated = source.repeat((amount, 1, 1, 1))  # (B * amount, C, H, W)
        mask = samples.noise_mask
        if mask is not None and mask.shape[0] > 1:
            mask = repeat_to_batch(mask, source.shape[0]).repeat((amount, 1, 1, 1))
        index = samples.batch_index
        if index is not None:
            offset = max(index) - min(index) + 1
            index = index + tuple(i + copy * offset for copy in range(1, amount) for i in index)
        return (Latent(repeated, mask, index),)


class SetLatentNoiseMask(Node):
    """Attaches a mask: sampling changes the latent only where the mask is 1 (inpainting)."""

    display_name = "Set Latent Noise Mask"
    category = "latent/inpaint"
    inputs = (_samples(), Link("mask", MASK, tooltip="Where the latent may change."))
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, mask: Tensor) -> tuple[Any, ...]:
        noise_mask = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))  # (B, 1, H, W)
        return (dataclasses.replace(samples, noise_mask=noise_mask),)


LATENT_BATCH_NODES = [LatentFromBatch, RepeatLatentBatch, SetLatentNoiseMask]
