"""PhotoMaker nodes: PhotoMakerLoader and PhotoMakerEncode (ComfyUI's
``comfy_extras.nodes_photomaker``)."""

from __future__ import annotations

from nodes.photomaker.nodes import (
    PHOTOMAKER_MODULE,
    PHOTOMAKER_NODES,
    PhotoMakerEncode,
    PhotoMakerLoader,
)

__all__ = ["PHOTOMAKER_MODULE", "PHOTOMAKER_NODES", "PhotoMakerEncode", "PhotoMakerLoader"]
