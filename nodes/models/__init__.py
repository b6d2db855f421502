"""Model nodes: loaders, model folders and pickers, CLIP nodes, ModelSamplingDiscrete.

``MODEL_NODES`` lists them in palette order. Pickers list the model folders of the schema
context; runs reach the ModelManager, the folders and the tokenizer through the context's ports
(``ctx.models``, ``ctx.model_files``, ``ctx.text``), built by :func:`local_ports`.
"""

from __future__ import annotations

from nodes.api import Node
from nodes.models.clip_nodes import CLIP_NODES, MODEL_PATCH_NODES
from nodes.models.folders import ModelFolders
from nodes.models.hypernetwork import HYPERNETWORK_NODES
from nodes.models.loaders import LOADER_NODES
from nodes.models.lora import LORA_NODES
from nodes.models.local_ports import SharedText, TokenizerCache, local_ports, model_folders

MODEL_NODES: list[type[Node]] = [*LOADER_NODES, *LORA_NODES, *CLIP_NODES, *MODEL_PATCH_NODES,
                                 *HYPERNETWORK_NODES]

__all__ = ["MODEL_NODES", "ModelFolders", "SharedText", "TokenizerCache", "local_ports",
           "model_folders"]
