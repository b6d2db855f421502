"""The built-in node pack. It registers exactly the way a plugin pack does."""

from __future__ import annotations

from nodes.api import Node, Registry

# Node classes of the built-in pack, in palette order. The model, sampling and image nodes
# join this list with their issue ("Sampling and the core node set").
BUILTIN_NODES: list[type[Node]] = []


def register_builtin_nodes(registry: Registry) -> None:
    registry.register_all(BUILTIN_NODES, module="nodes")
