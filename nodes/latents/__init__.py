"""Latent nodes with ComfyUI's names and semantics; a LATENT is ``nodes.payloads.Latent``."""

from __future__ import annotations

from nodes.api import Node
from nodes.latents.batch import LATENT_BATCH_NODES
from nodes.latents.ops import LATENT_OPS

LATENT_NODES: list[type[Node]] = [*LATENT_OPS, *LATENT_BATCH_NODES]

__all__ = ["LATENT_NODES"]
