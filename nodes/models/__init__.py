"""Model nodes: loaders, model folders and pickers, CLIP nodes, ModelSamplingDiscrete, merging,
saving and upscale models.

``MODEL_NODES`` lists them in palette order; ``MODEL_EXTRAS_MODULES`` gives ComfyUI's
python_module of those it keeps in comfy_extras. Pickers list the model folders of the schema
context; runs reach the ModelManager, the folders and the tokenizer through the context's ports
(``ctx.models``, ``ctx.model_files``, ``ctx.text``), built by :func:`local_ports`.
"""

from __future__ import annotations

from nodes.api import Node
from nodes.models.clip_nodes import CLIP_NODES, MODEL_PATCH_NODES
from nodes.models.folders import ModelFolders
from nodes.models.hypernetwork import HYPERNETWORK_NODES
from nodes.models.loaders import LOADER_NODES
from nodes.models.local_ports import SharedText, TokenizerCache, local_ports, model_folders
from nodes.models.lora import LORA_NODES
from nodes.models.lora_save import LoraSave
from nodes.models.merging import (
    CLIPMergeAdd,
    CLIPMergeSimple,
    CLIPMergeSubtract,
    ModelMergeAdd,
    ModelMergeSimple,
    ModelMergeSubtract,
)
from nodes.models.merging_blocks import (
    ModelMergeBlocks,
    ModelMergeSD1,
    ModelMergeSD2,
    ModelMergeSDXL,
)
from nodes.models.saving import SAVE_NODES
from nodes.models.upscale import UPSCALE_MODULE, UPSCALE_NODES

MERGE_NODES: list[type[Node]] = [
    ModelMergeSimple, ModelMergeBlocks, ModelMergeSubtract, ModelMergeAdd, *SAVE_NODES,
    CLIPMergeSimple, CLIPMergeSubtract, CLIPMergeAdd,
]
MODEL_SPECIFIC_MERGE_NODES: list[type[Node]] = [ModelMergeSD1, ModelMergeSD2, ModelMergeSDXL]

# Merging, saving and LoRA extraction (ComfyUI's comfy_extras model-merging modules).
MERGING_NODES: list[type[Node]] = [*MERGE_NODES, *MODEL_SPECIFIC_MERGE_NODES, LoraSave]

MODEL_NODES: list[type[Node]] = [*LOADER_NODES, *LORA_NODES, *CLIP_NODES, *MODEL_PATCH_NODES,
                                 *HYPERNETWORK_NODES, *MERGING_NODES, *UPSCALE_NODES]

MODEL_EXTRAS_MODULES: dict[str, str] = {
    **{node.type_name: "comfy_extras.nodes_model_merging" for node in MERGE_NODES},
    **{node.type_name: "comfy_extras.nodes_model_merging_model_specific"
       for node in MODEL_SPECIFIC_MERGE_NODES},
    LoraSave.type_name: "comfy_extras.nodes_lora_extract",
    "HypernetworkLoader": "comfy_extras.nodes_hypernetwork",
    **{node.type_name: UPSCALE_MODULE for node in UPSCALE_NODES},
}

__all__ = ["MERGING_NODES", "MODEL_EXTRAS_MODULES", "MODEL_NODES", "ModelFolders", "SharedText",
           "TokenizerCache", "local_ports", "model_folders"]
