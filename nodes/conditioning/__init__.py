"""Conditioning nodes: text encoding and ComfyUI's conditioning list operations.

A CONDITIONING value is a tuple of ``diffusion.guidance.Cond`` entries.
"""

from __future__ import annotations

from nodes.api import Node
from nodes.conditioning.ops import CONDITIONING_OPS
from nodes.conditioning.text import TEXT_NODES

CONDITIONING_NODES: list[type[Node]] = [*TEXT_NODES, *CONDITIONING_OPS]

__all__ = ["CONDITIONING_NODES"]
