"""VAE nodes with ComfyUI's names: encode, decode, tiled variants and encode-for-inpainting."""

from __future__ import annotations

from nodes.api import Node
from nodes.vae.nodes import VAE_NODES as _VAE_NODES

VAE_NODES: list[type[Node]] = list(_VAE_NODES)

__all__ = ["VAE_NODES"]
