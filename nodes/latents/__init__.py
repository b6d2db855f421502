"""Latent nodes with ComfyUI's names and semantics; a LATENT is ``nodes.payloads.Latent``.

``LATENT_NODES``: the core set; ``LATENT_CATALOGUE``: the rest of ComfyUI's SD-era latent
nodes (arithmetic, transforms, batching, files, operations), with ``LATENT_EXTRAS_MODULES``
giving ComfyUI's python_module of those it keeps in comfy_extras.
"""

from __future__ import annotations

from nodes.api import Node
from nodes.latents.arithmetic import LATENT_ARITHMETIC
from nodes.latents.batch import LATENT_BATCH_NODES
from nodes.latents.batch_ops import LATENT_BATCH_OPS
from nodes.latents.composite import LATENT_COMPOSITE
from nodes.latents.files import LATENT_FILE_NODES
from nodes.latents.operation_nodes import LATENT_OPERATION_NODES
from nodes.latents.ops import LATENT_OPS
from nodes.latents.rebatch import LATENT_REBATCH
from nodes.latents.transform import LATENT_TRANSFORMS

LATENT_NODES: list[type[Node]] = [*LATENT_OPS, *LATENT_BATCH_NODES]

LATENT_CATALOGUE: list[type[Node]] = [
    *LATENT_COMPOSITE, *LATENT_TRANSFORMS, *LATENT_ARITHMETIC, *LATENT_BATCH_OPS,
    *LATENT_REBATCH, *LATENT_FILE_NODES, *LATENT_OPERATION_NODES,
]

_NODES_LATENT = ("LatentAdd", "LatentSubtract", "LatentMultiply", "LatentInterpolate",
                 "LatentConcat", "LatentCut", "LatentBatch", "LatentBatchSeedBehavior",
                 "LatentApplyOperation", "LatentApplyOperationCFG",
                 "LatentOperationTonemapReinhard", "LatentOperationSharpen")
LATENT_EXTRAS_MODULES: dict[str, str] = {
    **{name: "comfy_extras.nodes_latent" for name in _NODES_LATENT},
    "LatentCompositeMasked": "comfy_extras.nodes_mask",
    "RebatchLatents": "comfy_extras.nodes_rebatch",
}

__all__ = ["LATENT_CATALOGUE", "LATENT_EXTRAS_MODULES", "LATENT_NODES"]
