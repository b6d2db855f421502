"""Sampling nodes with ComfyUI's names and semantics: KSampler, KSamplerAdvanced, the
custom-sampling family (SamplerCustom, SamplerCustomAdvanced, KSamplerSelect, noise, guiders,
schedulers, sigma editing, samplers with options) and the continuous model-sampling patches.
``SAMPLING_NODES`` lists them in palette order.
"""

from __future__ import annotations

from nodes.api import Node
from nodes.sampling.advanced_samplers import ADVANCED_SAMPLER_NODES
from nodes.sampling.align_your_steps import AlignYourStepsScheduler
from nodes.sampling.custom import CUSTOM_SAMPLING_NODES
from nodes.sampling.gits import GITSScheduler
from nodes.sampling.guiders import GUIDER_NODES, PerpNegGuider
from nodes.sampling.ksampler import KSAMPLER_NODES
from nodes.sampling.model_sampling_nodes import MODEL_SAMPLING_NODES
from nodes.sampling.more_schedulers import MORE_SCHEDULER_NODES
from nodes.sampling.sampler_nodes import OPTION_SAMPLER_NODES
from nodes.sampling.schedulers import SCHEDULER_NODES
from nodes.sampling.sigmas import SIGMA_NODES

_CUSTOM_SAMPLER_NODES: list[type[Node]] = [
    *CUSTOM_SAMPLING_NODES, *SCHEDULER_NODES, *MORE_SCHEDULER_NODES, *OPTION_SAMPLER_NODES,
    *SIGMA_NODES, *[n for n in GUIDER_NODES if n is not PerpNegGuider],
]
SAMPLING_NODES: list[type[Node]] = [
    *KSAMPLER_NODES, *_CUSTOM_SAMPLER_NODES, AlignYourStepsScheduler, GITSScheduler, PerpNegGuider,
    *ADVANCED_SAMPLER_NODES, *MODEL_SAMPLING_NODES,
]

# ComfyUI's python_module for these nodes (the others of this pack are in "nodes").
SAMPLING_EXTRAS_MODULES: dict[str, str] = {
    **{node.type_name: "comfy_extras.nodes_custom_sampler" for node in _CUSTOM_SAMPLER_NODES},
    AlignYourStepsScheduler.type_name: "comfy_extras.nodes_align_your_steps",
    GITSScheduler.type_name: "comfy_extras.nodes_gits",
    PerpNegGuider.type_name: "comfy_extras.nodes_perpneg",
    **{node.type_name: "comfy_extras.nodes_advanced_samplers" for node in ADVANCED_SAMPLER_NODES},
    **{node.type_name: "comfy_extras.nodes_model_advanced" for node in MODEL_SAMPLING_NODES},
}

__all__ = ["SAMPLING_EXTRAS_MODULES", "SAMPLING_NODES"]
