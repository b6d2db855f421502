"""The built-in node pack. It registers exactly the way a plugin pack does: its nodes, and
ComfyUI's samplers and schedulers into the registry's sampling table."""

from __future__ import annotations

import dataclasses

from diffusion.sampling import SAMPLERS, SCHEDULERS
from diffusion.sampling.sampler_spec import NOISE_COMPAT
from nodes.api import Node, Registry
from nodes.conditioning import CONDITIONING_NODES
from nodes.conditioning.area_strength import ConditioningSetAreaStrength
from nodes.conditioning.inpaint import INPAINT_NODES
from nodes.conditioning.ip2p import IP2P_NODES
from nodes.controlnet import CONTROLNET_EXTRAS_MODULES, CONTROLNET_NODES
from nodes.hooks import HOOK_NODES, HOOKS_EXTRAS_MODULES
from nodes.images import IMAGE_EXTRAS_MODULES, IMAGE_NODES
from nodes.ipadapter import IPADAPTER_MODULE, IPADAPTER_NODES
from nodes.latents import LATENT_CATALOGUE, LATENT_EXTRAS_MODULES, LATENT_NODES
from nodes.masks import MASK_CATALOGUE, MASK_EXTRAS_MODULES
from nodes.models import MODEL_EXTRAS_MODULES, MODEL_NODES
from nodes.models.legacy_loaders import LEGACY_LOADER_NODES
from nodes.patches import PATCH_EXTRAS_MODULES, PATCH_NODES
from nodes.primitives import PRIMITIVE_EXTRAS_MODULES, PRIMITIVE_NODES
from nodes.sampling import SAMPLING_EXTRAS_MODULES, SAMPLING_NODES
from nodes.vae import VAE_NODES
from nodes.vision import VISION_NODES

# Node classes of the built-in pack, in palette order.
BUILTIN_NODES: list[type[Node]] = [
    *IMAGE_NODES, *MASK_CATALOGUE, *MODEL_NODES, *LEGACY_LOADER_NODES, *CONDITIONING_NODES,
    ConditioningSetAreaStrength, *INPAINT_NODES, *IP2P_NODES, *LATENT_NODES, *LATENT_CATALOGUE,
    *VAE_NODES, *SAMPLING_NODES, *PATCH_NODES, *HOOK_NODES, *PRIMITIVE_NODES, *CONTROLNET_NODES,
    *VISION_NODES, *IPADAPTER_NODES,
]


# ComfyUI's python_module for built-in nodes it keeps in comfy_extras (others: "nodes").
EXTRAS_MODULES = {
    "CLIPTextEncodeSDXL": "comfy_extras.nodes_clip_sdxl",
    "CLIPTextEncodeSDXLRefiner": "comfy_extras.nodes_clip_sdxl",
    "ModelSamplingDiscrete": "comfy_extras.nodes_model_advanced",
    "ImageCrop": "comfy_extras.nodes_images",
    "ImageScaleToTotalPixels": "comfy_extras.nodes_post_processing",
    **{name: "comfy_extras.nodes_mask" for name in (
        "ImageCompositeMasked", "ImageToMask", "MaskToImage", "SolidMask", "InvertMask",
        "CropMask", "MaskComposite", "FeatherMask", "GrowMask", "ThresholdMask")},
    **IMAGE_EXTRAS_MODULES,
    **MODEL_EXTRAS_MODULES,
    **LATENT_EXTRAS_MODULES,
    **MASK_EXTRAS_MODULES,
    **PRIMITIVE_EXTRAS_MODULES,
    **SAMPLING_EXTRAS_MODULES,
    **HOOKS_EXTRAS_MODULES,
    **PATCH_EXTRAS_MODULES,
    "InstructPixToPixConditioning": "comfy_extras.nodes_ip2p",
    **CONTROLNET_EXTRAS_MODULES,
    **{node.type_name: IPADAPTER_MODULE for node in IPADAPTER_NODES},
}


def register_builtin_nodes(registry: Registry, *, noise_compat: str = "current") -> None:
    """Register the built-in nodes, samplers (ComfyUI's list order) and schedulers.

    ``noise_compat``: ``current`` seeds the CPU step noise of ancestral samplers, ddpm and lcm
    as current ComfyUI releases do (seed + 1); ``legacy`` as v0.3.64 and older (seed)."""
    if noise_compat not in NOISE_COMPAT:
        raise ValueError(f"noise_compat {noise_compat!r}: choose one of {sorted(NOISE_COMPAT)}")
    offset = NOISE_COMPAT[noise_compat]
    for name, spec in SAMPLERS.items():
        if spec.cpu_step_seed_offset != offset:
            spec = dataclasses.replace(spec, cpu_step_seed_offset=offset)
        registry.samplers.add_sampler(name, spec)
    for name, schedule in SCHEDULERS.items():
        registry.samplers.add_scheduler(name, schedule)
    for node in BUILTIN_NODES:
        registry.register(node, module=EXTRAS_MODULES.get(node.type_name, "nodes"))
