"""Sampling nodes with ComfyUI's names and semantics: KSampler, KSamplerAdvanced and the
custom-sampling family (SamplerCustom, SamplerCustomAdvanced, KSamplerSelect, schedulers,
RandomNoise, CFGGuider). ``SAMPLING_NODES`` lists them in palette order.
"""

from __future__ import annotations

from nodes.api import Node
from nodes.sampling.custom import CUSTOM_SAMPLING_NODES
from nodes.sampling.ksampler import KSAMPLER_NODES
from nodes.sampling.schedulers import SCHEDULER_NODES

SAMPLING_NODES: list[type[Node]] = [*KSAMPLER_NODES, *CUSTOM_SAMPLING_NODES, *SCHEDULER_NODES]

# ComfyUI's python_module for these nodes (the others of this pack are in "nodes").
SAMPLING_EXTRAS_MODULES: dict[str, str] = {
    node.type_name: "comfy_extras.nodes_custom_sampler"
    for node in [*CUSTOM_SAMPLING_NODES, *SCHEDULER_NODES]
}

__all__ = ["SAMPLING_EXTRAS_MODULES", "SAMPLING_NODES"]
