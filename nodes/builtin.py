"""The built-in node pack. It registers exactly the way a plugin pack does."""

from __future__ import annotations

from nodes.api import Folders, Node, Registry
from nodes.conditioning import CONDITIONING_NODES
from nodes.images import IMAGE_NODES, bind_folders
from nodes.latents import LATENT_NODES
from nodes.models import MODEL_NODES, ModelFolders, bind_model_folders
from nodes.sampling import SAMPLING_EXTRAS_MODULES, SAMPLING_NODES
from nodes.vae import VAE_NODES

# Node classes of the built-in pack, in palette order.
BUILTIN_NODES: list[type[Node]] = [
    *IMAGE_NODES, *MODEL_NODES, *CONDITIONING_NODES, *LATENT_NODES, *VAE_NODES, *SAMPLING_NODES,
]


# ComfyUI's python_module for built-in nodes it keeps in comfy_extras (others: "nodes").
EXTRAS_MODULES = {
    "CLIPTextEncodeSDXL": "comfy_extras.nodes_clip_sdxl",
    "CLIPTextEncodeSDXLRefiner": "comfy_extras.nodes_clip_sdxl",
    "ModelSamplingDiscrete": "comfy_extras.nodes_model_advanced",
    **SAMPLING_EXTRAS_MODULES,
}


def register_builtin_nodes(registry: Registry, folders: Folders | None = None,
                           model_folders: ModelFolders | None = None) -> None:
    """Register the built-in nodes; file pickers list ``folders`` and model pickers
    ``model_folders`` when given."""
    nodes = bind_folders(BUILTIN_NODES, folders) if folders is not None else BUILTIN_NODES
    if model_folders is not None:
        nodes = bind_model_folders(nodes, model_folders)
    for node in nodes:
        registry.register(node, module=EXTRAS_MODULES.get(node.type_name, "nodes"))
