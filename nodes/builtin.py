"""The built-in node pack. It registers exactly the way a plugin pack does."""

from __future__ import annotations

from nodes.api import Folders, Node, Registry
from nodes.images import IMAGE_NODES, bind_folders

# Node classes of the built-in pack, in palette order. The model, sampling and latent nodes
# join this list with their issue ("Sampling and the core node set").
BUILTIN_NODES: list[type[Node]] = [*IMAGE_NODES]


def register_builtin_nodes(registry: Registry, folders: Folders | None = None) -> None:
    """Register the built-in nodes; file pickers list ``folders`` when given."""
    nodes = bind_folders(BUILTIN_NODES, folders) if folders is not None else BUILTIN_NODES
    registry.register_all(nodes, module="nodes")
