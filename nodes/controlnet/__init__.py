"""Control-model nodes: loaders (ControlNet, Control-LoRA, T2I-Adapter, diff ControlNet), the
apply nodes, SetUnionControlNetType and the Canny preprocessor."""

from __future__ import annotations

from nodes.api import Node
from nodes.controlnet.apply import APPLY_NODES
from nodes.controlnet.canny import CANNY_NODES
from nodes.controlnet.loaders import LOADER_NODES

CONTROLNET_NODES: list[type[Node]] = [*LOADER_NODES, *APPLY_NODES, *CANNY_NODES]
CONTROLNET_EXTRAS_MODULES = {
    "SetUnionControlNetType": "comfy_extras.nodes_controlnet",
    "Canny": "comfy_extras.nodes_canny",
}

__all__ = ["CONTROLNET_EXTRAS_MODULES", "CONTROLNET_NODES"]
