"""Joining latent batches and choosing their noise seeds: LatentBatch, LatentBatchSeedBehavior.

``batch_index`` is each sample's position in the batch its noise is drawn for: samples with
equal indices get equal initial noise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from nodes.api import LATENT, Combo, Link, Node, Output, RunContext
from nodes.latents.arithmetic import reshape_like
from nodes.payloads import Latent

SEED_BEHAVIORS = ("random", "fixed")


def batch_positions(latent: Latent) -> tuple[int, ...]:
    """The latent's batch_index, or 0 … B−1 when it has none."""
    if latent.batch_index is not None:
        return latent.batch_index
    return tuple(range(latent.samples.shape[0]))


class LatentBatch(Node):
    """Appends the batch samples2 to samples1 (resized to samples1's size when it differs);
    each keeps its noise positions. samples1's noise mask is kept."""

    category = "latent/batch"
    inputs = (Link("samples1", LATENT, tooltip="The first latents."),
              Link("samples2", LATENT, tooltip="The latents appended."))
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples1: Latent, samples2: Latent) -> tuple[Any, ...]:
        s1 = samples1.samples
        s2 = reshape_like(s1, samples2.samples, node=self.type_name, repeat_batch=False)
        joined = torch.cat((s1, s2), dim=0)  # (B1 + B2, C, H, W)
        index = batch_positions(samples1) + batch_positions(samples2)
        return (dataclasses.replace(samples1, samples=joined, batch_index=index),)


class LatentBatchSeedBehavior(Node):
    """'fixed' gives every latent of the batch the first one's noise; 'random' draws each its
    own (by its position in this batch)."""

    category = "latent/advanced"
    inputs = (
        Link("samples", LATENT, tooltip="The latents."),
        Combo("seed_behavior", choices=SEED_BEHAVIORS, default="fixed",
              tooltip="fixed: one noise for the whole batch; random: noise per latent."),
    )
    outputs = (Output(LATENT),)

    def run(self, ctx: RunContext, samples: Latent, seed_behavior: str) -> tuple[Any, ...]:
        if seed_behavior == "random":
            return (dataclasses.replace(samples, batch_index=None),)
        if seed_behavior == "fixed":
            first = samples.batch_index[0] if samples.batch_index else 0
            index = (first,) * samples.samples.shape[0]
            return (dataclasses.replace(samples, batch_index=index),)
        raise ValueError(f"LatentBatchSeedBehavior input 'seed_behavior': {seed_behavior!r} "
                         f"is not one of {list(SEED_BEHAVIORS)}")


LATENT_BATCH_OPS = [LatentBatch, LatentBatchSeedBehavior]
