"""Where a weight hook's patches come from, mapped onto the MODEL or CLIP they are used with.

A hook does not know its model when it is created (CreateHookLora has no model input), so its
source is mapped when the hook is applied: when a prompt is encoded (CLIP) or when a hooked
entry is sampled (MODEL), at that moment's strength.

* ``LoraHookSource``: a LoRA file's tensors, mapped as LoraLoader maps them
  (``lora_patches``); keys that match nothing in the model are ignored, as ComfyUI's hooks
  ignore them (a CLIP-only LoRA is a valid hook for the diffusion model: it patches nothing).
* ``ModelAsLoraHookSource``: another checkpoint's weights as a LoRA (ComfyUI's
  ``model_as_lora``): each weight both models have with one shape becomes
  ``W + strength * (W_other - W_original)``, ``W`` being the weight with the model's own
  patches and ``W_original`` the model's unpatched weight; both are read through their handles
  when the patched copy is built (two ``MergePatch``es), never held by the hook.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from diffusion.component_shapes import parameter_shapes
from diffusion.guidance.hooked import HookSource, WeightHook
from diffusion.memory import ModelHandle
from diffusion.patching import MergePatch, WeightPatch
from diffusion.patching.lora import LoraFile, lora_patches
from nodes.models.lora import text_targets_of, unet_target_of
from nodes.payloads import Clip, DiffusionModel

logger = logging.getLogger(__name__)

EncoderPatches = dict[str, tuple[WeightPatch, ...]]
"""Patches per text encoder name (``clip_l``, ``clip_g`` …)."""


@runtime_checkable
class HookPatchSource(HookSource, Protocol):
    """A hook source that can be mapped onto this engine's MODEL and CLIP payloads."""

    def model_patches(self, model: DiffusionModel,
                      strength: float) -> tuple[WeightPatch, ...]: ...

    def clip_patches(self, clip: Clip, strength: float) -> EncoderPatches: ...


def patch_source(hook: WeightHook) -> HookPatchSource:
    """The hook's source as a patch source, or a TypeError naming what it is."""
    if not isinstance(hook.source, HookPatchSource):
        raise TypeError(f"weight hook {hook.source.label!r}: its source "
                        f"{type(hook.source).__name__} cannot be mapped onto a MODEL or CLIP")
    return hook.source


@dataclass(frozen=True, eq=False)
class LoraHookSource:
    """A loaded LoRA file (its tensors are held: they count towards the output cache)."""

    lora: LoraFile
    label: str

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.lora.tensors.values())

    def model_patches(self, model: DiffusionModel, strength: float) -> tuple[WeightPatch, ...]:
        if strength == 0:
            return ()
        mapping = lora_patches(self.lora, {"unet": unet_target_of(model)}, {"unet": strength})
        logger.debug("hook %s on the model: %d keys mapped", self.label, mapping.mapped)
        return mapping.patches["unet"]

    def clip_patches(self, clip: Clip, strength: float) -> EncoderPatches:
        if strength == 0:
            return {}
        targets = text_targets_of(clip)
        mapping = lora_patches(self.lora, targets, dict.fromkeys(targets, strength))
        return dict(mapping.patches)


def _as_lora(label: str, own: ModelHandle, other: ModelHandle,
             strength: float) -> tuple[WeightPatch, ...]:
    """``W + strength * (W_other - W_original)`` for every key of equal shape in both."""
    mine, theirs = parameter_shapes(own), parameter_shapes(other)
    shared = [key for key, shape in theirs.items() if mine.get(key) == shape]
    if not shared:
        raise ValueError(f"hook {label!r}: its {other.component} shares no weight of equal "
                         f"shape with {own.component} of {own.key.path}")
    skipped = sum(1 for key in theirs if key in mine and key not in shared)
    if skipped:
        logger.warning("hook %s: %d %s weights differ in shape and are left alone", label,
                       skipped, own.component)
    patches: list[WeightPatch] = []
    for key in shared:
        patches.append(MergePatch(key, other, key, 1.0, strength))
        patches.append(MergePatch(key, own, key, 1.0, -strength))
    return tuple(patches)


@dataclass(frozen=True, eq=False)
class ModelAsLoraHookSource:
    """A checkpoint's components by name (``unet``, ``clip_l`` …), read only through their
    handles when a patched copy is built."""

    components: Mapping[str, ModelHandle]
    label: str

    nbytes = 0  # handles, not weights

    def model_patches(self, model: DiffusionModel, strength: float) -> tuple[WeightPatch, ...]:
        if strength == 0:
            return ()
        if "unet" not in self.components:
            raise ValueError(f"hook {self.label!r} has no diffusion model to use as a LoRA")
        return _as_lora(self.label, model.unet, self.components["unet"], strength)

    def clip_patches(self, clip: Clip, strength: float) -> EncoderPatches:
        if strength == 0:
            return {}
        return {ref.name: _as_lora(self.label, ref.handle, self.components[ref.name], strength)
                for ref in clip.encoders if ref.name in self.components}


__all__ = ["EncoderPatches", "HookPatchSource", "LoraHookSource", "ModelAsLoraHookSource",
           "patch_source"]
