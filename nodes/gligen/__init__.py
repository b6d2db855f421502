"""GLIGEN nodes: GLIGENLoader and GLIGENTextBoxApply (ComfyUI's, in its ``nodes`` module)."""

from __future__ import annotations

from nodes.gligen.nodes import GLIGEN_NODES, GLIGENLoader, GLIGENTextBoxApply

__all__ = ["GLIGEN_NODES", "GLIGENLoader", "GLIGENTextBoxApply"]
