"""LoRA / LyCORIS files as weight patches for our UNet and text encoders.

* ``load_lora_file(path)`` / ``lora_from_state_dict(state)`` -> ``LoraFile`` (tensors on the CPU,
  metadata, identity).
* ``unet_target`` / ``text_target`` / ``layout_targets`` -> ``TargetModel`` (names and shapes,
  built on the meta device).
* ``lora_patches(lora, targets, strengths)`` -> ``LoraMapping``: per-target ``AdapterPatch``
  tuples for a ``PatchSet``, the count of mapped file keys, the unmapped keys, a family guess.

Formats are told apart by keys and shapes (``formats``): kohya LoRA / LoCon, LyCORIS LoHa, LoKr,
IA3, full diff and norm, DoRA, diffusers and PEFT, and ComfyUI's LDM-named form. The math of each
kind is in ``deltas``; the naming schemes in ``keys``.
"""

from __future__ import annotations

from diffusion.patching.lora.errors import (
    LoraError,
    LoraFileError,
    LoraFormatError,
    LoraMappingError,
)
from diffusion.patching.lora.mapping import LoraMapping, lora_patches
from diffusion.patching.lora.patches import AdapterPatch
from diffusion.patching.lora.targets import (
    TargetModel,
    layout_targets,
    parameter_shapes,
    text_target,
    unet_target,
)
from diffusion.patching.lora.tensors import LoraFile, load_lora_file, lora_from_state_dict

__all__ = [
    "AdapterPatch",
    "LoraError",
    "LoraFile",
    "LoraFileError",
    "LoraFormatError",
    "LoraMapping",
    "LoraMappingError",
    "TargetModel",
    "layout_targets",
    "load_lora_file",
    "lora_from_state_dict",
    "lora_patches",
    "parameter_shapes",
    "text_target",
    "unet_target",
]
