"""Model patch nodes: ComfyUI's MODEL -> MODEL (and CLIP -> CLIP) nodes between the loader and
the sampler. Each returns a new payload with a ``diffusion.model_patches`` hook (or weight
patches) added; the input is never changed, and the node's settings are its cache key.

``PATCH_NODES`` lists them in palette order; ``PATCH_EXTRAS_MODULES`` gives ComfyUI's
python_module of each.
"""

from __future__ import annotations

from nodes.api import Node
from nodes.patches.attention_multiply import ATTENTION_MULTIPLY_NODES
from nodes.patches.guidance_nodes import GUIDANCE_PATCH_NODES
from nodes.patches.model_nodes import MODEL_RUN_NODES
from nodes.patches.unet_nodes import UNET_PATCH_NODES

PATCH_NODES: list[type[Node]] = [
    *UNET_PATCH_NODES, *GUIDANCE_PATCH_NODES, *ATTENTION_MULTIPLY_NODES, *MODEL_RUN_NODES,
]

_MODULES = {
    "nodes_freelunch": ("FreeU", "FreeU_V2"),
    "nodes_model_advanced": ("RescaleCFG", "ModelComputeDtype"),
    "nodes_sag": ("SelfAttentionGuidance",),
    "nodes_pag": ("PerturbedAttentionGuidance",),
    "nodes_hypertile": ("HyperTile",),
    "nodes_model_downscale": ("PatchModelAddDownscale",),
    "nodes_perpneg": ("PerpNeg",),
    "nodes_cfg": ("CFGNorm", "CFGZeroStar"),
    "nodes_apg": ("APG",),
    "nodes_mahiro": ("Mahiro",),
    "nodes_tcfg": ("TCFG",),
    "nodes_fresca": ("FreSca",),
    "nodes_eps": ("Epsilon Scaling",),
    "nodes_differential_diffusion": ("DifferentialDiffusion",),
    "nodes_tomesd": ("TomePatchModel",),
    "nodes_attention_multiply": ("UNetSelfAttentionMultiply", "UNetCrossAttentionMultiply",
                                 "CLIPAttentionMultiply"),
    "nodes_torch_compile": ("TorchCompileModel",),
}
PATCH_EXTRAS_MODULES: dict[str, str] = {
    name: f"comfy_extras.{module}" for module, names in _MODULES.items() for name in names}

__all__ = ["PATCH_EXTRAS_MODULES", "PATCH_NODES"]
