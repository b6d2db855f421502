"""LoraLoader and LoraLoaderModelOnly (ComfyUI's names and declarations).

A loader reads the LoRA file, maps its keys onto the MODEL's UNet and the CLIP's text encoders
(``diffusion.patching.lora``: names and shapes come from meta-built modules, no weights read)
and returns new payloads whose ``PatchSet`` ends with the LoRA's patches — stacked loaders compose
in graph order; the inputs are never modified. Keys that map onto nothing are listed in the
node's execution record (``ctx.note("lora", …)``); a file that maps onto nothing is an error that
names the file and the family it seems to be for.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from diffusion.memory import ModelHandle
from diffusion.patching.lora import (
    LoraMapping,
    TargetModel,
    load_lora_file,
    lora_patches,
    text_target,
    unet_target,
)
from diffusion.patching.lora.targets import TextRole
from diffusion.text.clip import CLIPTextModel
from nodes.api import CLIP, MODEL, Float, Link, Output, RunContext
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.payloads import Clip, DiffusionModel, TextEncoderRef

UNMAPPED_SHOWN = 50  # how many unmapped keys the execution record lists (the count is exact)


def _strength(name: str, tooltip: str) -> Float:
    return Float(name, default=1.0, min=-100.0, max=100.0, step=0.01, tooltip=tooltip)


def _empty(handle: ModelHandle) -> Any:
    return handle.opened.empty(handle.component)  # meta device: names and shapes only


def unet_target_of(model: DiffusionModel) -> TargetModel:
    return unet_target(_empty(model.unet).config)


def text_targets_of(clip: Clip) -> dict[str, TargetModel]:
    roles: tuple[TextRole, ...] = ("te1", "te2") if len(clip.encoders) == 2 else ("te",)
    targets = {}
    for ref, role in zip(clip.encoders, roles, strict=False):
        module = _empty(ref.handle)
        kind = "clip" if isinstance(module, CLIPTextModel) else "open_clip"
        targets[ref.name] = text_target(ref.name, kind, module.config, role=role)
    return targets


def _note(ctx: RunContext, lora_name: str, mapping: LoraMapping) -> None:
    ctx.note("lora", {
        "file": lora_name, "keys": mapping.total, "mapped": mapping.mapped,
        "unmapped_count": len(mapping.unmapped),
        "unmapped": list(mapping.unmapped[:UNMAPPED_SHOWN]),
    })


def apply_lora(ctx: RunContext, path: Path, lora_name: str, model: DiffusionModel,
               clip: Clip | None, strength_model: float,
               strength_clip: float) -> tuple[DiffusionModel, Clip | None]:
    """``model`` and ``clip`` with the LoRA's patches appended (``clip`` None: model only)."""
    lora = load_lora_file(path)
    targets = {"unet": unet_target_of(model), **(text_targets_of(clip) if clip else {})}
    strengths = {name: strength_model if name == "unet" else strength_clip for name in targets}
    mapping = lora_patches(lora, targets, strengths)
    mapping.ensure_mapped()
    _note(ctx, lora_name, mapping)
    new_model = dataclasses.replace(model, patches=mapping.patch_set("unet", model.patches))
    if clip is None:
        return new_model, None
    encoders = tuple(_patched_encoder(ref, mapping) for ref in clip.encoders)
    return new_model, dataclasses.replace(clip, encoders=encoders)


def _patched_encoder(ref: TextEncoderRef, mapping: LoraMapping) -> TextEncoderRef:
    return dataclasses.replace(ref, patches=mapping.patch_set(ref.name, ref.patches))


class LoraLoader(ModelPickerNode):
    """LoRAs are used to modify diffusion and CLIP models, altering the way in which latents
    are denoised such as applying styles. Multiple LoRA nodes can be linked together."""

    display_name = "Load LoRA"
    category = "loaders"
    pickers = {"lora_name": "loras"}
    inputs = (
        Link("model", MODEL, tooltip="The diffusion model the LoRA will be applied to."),
        Link("clip", CLIP, tooltip="The CLIP model the LoRA will be applied to."),
        model_picker("lora_name", "loras", "The name of the LoRA."),
        _strength("strength_model", "How strongly to modify the diffusion model. This value "
                                    "can be negative."),
        _strength("strength_clip", "How strongly to modify the CLIP model. This value can be "
                                   "negative."),
    )
    outputs = (Output(MODEL, tooltip="The modified diffusion model."),
               Output(CLIP, tooltip="The modified CLIP model."))

    def run(self, ctx: RunContext, model: DiffusionModel, clip: Clip, lora_name: str,
            strength_model: float, strength_clip: float) -> tuple[Any, ...]:
        if strength_model == 0 and strength_clip == 0:
            return (model, clip)
        path = self.model_path(ctx.model_files, "lora_name", lora_name)
        return apply_lora(ctx, path, lora_name, model, clip, strength_model, strength_clip)


class LoraLoaderModelOnly(ModelPickerNode):
    """Applies a LoRA to the diffusion model only."""

    display_name = "LoraLoaderModelOnly"
    category = "loaders"
    pickers = {"lora_name": "loras"}
    inputs = (
        Link("model", MODEL, tooltip="The diffusion model the LoRA will be applied to."),
        model_picker("lora_name", "loras", "The name of the LoRA."),
        _strength("strength_model", "How strongly to modify the diffusion model. This value "
                                    "can be negative."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, lora_name: str,
            strength_model: float) -> tuple[Any, ...]:
        if strength_model == 0:
            return (model,)
        path = self.model_path(ctx.model_files, "lora_name", lora_name)
        new_model, _ = apply_lora(ctx, path, lora_name, model, None, strength_model, 0.0)
        return (new_model,)


LORA_NODES = [LoraLoader, LoraLoaderModelOnly]
