"""Model nodes: loaders, model folders and pickers, CLIP nodes, ModelSamplingDiscrete.

``MODEL_NODES`` lists them in palette order. Pickers list nothing until bound to model folders
(:func:`bind_model_folders`); runs reach the ModelManager, the folders and the tokenizer through
``ctx.services`` (:mod:`nodes.models.services`).
"""

from __future__ import annotations

from nodes.api import Node
from nodes.models.clip_nodes import CLIP_NODES, MODEL_PATCH_NODES
from nodes.models.folders import ModelFolders
from nodes.models.loaders import LOADER_NODES
from nodes.models.pickers import bind_model_folders
from nodes.models.services import model_folders, model_services

MODEL_NODES: list[type[Node]] = [*LOADER_NODES, *CLIP_NODES, *MODEL_PATCH_NODES]

__all__ = ["MODEL_NODES", "ModelFolders", "bind_model_folders", "model_folders", "model_services"]
