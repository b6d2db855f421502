"""Control models: ControlNets (original and diffusers layouts, Union / ProMax, Control-LoRA,
diff ControlNets) and T2I-Adapters, the hooks that apply them to conditioning entries during
sampling, and the Canny preprocessor.

Pure torch; knows nothing of graphs or nodes. Applications ride on ``Cond.control`` and are bound
once per sampling run (``diffusion.guidance.RunControl``).
"""

from __future__ import annotations

from diffusion.control.apply import (
    AdapterSpec,
    ControlApplication,
    ControlLoraSpec,
    ControlNetSpec,
    ControlSpec,
    ModuleSource,
    ResidentModule,
)
from diffusion.control.canny import canny
from diffusion.control.control_lora import ControlLoraWeights, build_control_lora, load_control_lora
from diffusion.control.controlnet import ControlNetConfig, ControlNetModel, ControlNetOutput
from diffusion.control.diff import merge_difference
from diffusion.control.files import ControlFile, open_control_file
from diffusion.control.layout import control_kind, detect_adapter, detect_controlnet
from diffusion.control.t2i_adapter import AdapterConfig, T2IAdapter, adapter_residuals
from diffusion.control.union import UNION_CONTROLNET_TYPES

__all__ = [
    "UNION_CONTROLNET_TYPES",
    "AdapterConfig",
    "AdapterSpec",
    "ControlApplication",
    "ControlFile",
    "ControlLoraSpec",
    "ControlLoraWeights",
    "ControlNetConfig",
    "ControlNetModel",
    "ControlNetOutput",
    "ControlNetSpec",
    "ControlSpec",
    "ModuleSource",
    "ResidentModule",
    "T2IAdapter",
    "adapter_residuals",
    "build_control_lora",
    "canny",
    "control_kind",
    "detect_adapter",
    "detect_controlnet",
    "load_control_lora",
    "merge_difference",
    "open_control_file",
]
