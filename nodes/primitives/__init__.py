"""Primitive, preview-as-text and string nodes (ComfyUI's ``comfy_extras.nodes_primitive``,
``nodes_preview_any`` and ``nodes_string``)."""

from __future__ import annotations

from nodes.api import Node
from nodes.primitives.preview_any import PreviewAny
from nodes.primitives.regex_nodes import REGEX_NODES
from nodes.primitives.strings import STRING_NODES
from nodes.primitives.values import PRIMITIVE_VALUE_NODES

PRIMITIVE_NODES: list[type[Node]] = [*PRIMITIVE_VALUE_NODES, PreviewAny, *STRING_NODES,
                                     *REGEX_NODES]
PRIMITIVE_EXTRAS_MODULES: dict[str, str] = {
    **{n.type_name: "comfy_extras.nodes_primitive" for n in PRIMITIVE_VALUE_NODES},
    PreviewAny.type_name: "comfy_extras.nodes_preview_any",
    **{n.type_name: "comfy_extras.nodes_string" for n in (*STRING_NODES, *REGEX_NODES)},
}

__all__ = ["PRIMITIVE_EXTRAS_MODULES", "PRIMITIVE_NODES"]
