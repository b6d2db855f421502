"""Create Hook nodes: a LoRA file, or a checkpoint used as a LoRA, as a weight hook appended to
``prev_hooks`` (ComfyUI's ``comfy_extras.nodes_hooks``). The hook is mapped onto a model only
when it is used (``nodes.hooks.sources``): through SetClipHooks for the text encoders, through
hooked conditioning for the diffusion model."""

from __future__ import annotations

from typing import Any

from diffusion.guidance.hooked import HookGroup, WeightHook
from diffusion.patching.lora import load_lora_file
from nodes.api import HOOKS, Float, Link, Output, RunContext
from nodes.hooks.sources import HookPatchSource, LoraHookSource, ModelAsLoraHookSource
from nodes.models.pickers import ModelPickerNode, model_picker

CREATE_CATEGORY = "advanced/hooks/create"


def _strength(name: str, what: str) -> Float:
    return Float(name, default=1.0, min=-20.0, max=20.0, step=0.01,
                 tooltip=f"How strongly the hook patches the {what} (may be negative).")


def _prev_hooks() -> Link:
    return Link("prev_hooks", HOOKS, optional=True,
                tooltip="Hooks the new one is appended to.")


def appended(prev_hooks: HookGroup | None, source: HookPatchSource, strength_model: float,
             strength_clip: float) -> HookGroup:
    """``prev_hooks`` followed by a new hook of ``source`` (never modifies ``prev_hooks``)."""
    new = HookGroup((WeightHook(source, strength_model, strength_clip),))
    return new if prev_hooks is None else prev_hooks.plus(new)


def lora_hook(node: ModelPickerNode, ctx: RunContext, lora_name: str, strength_model: float,
              strength_clip: float, prev_hooks: HookGroup | None) -> HookGroup:
    """``prev_hooks`` plus a hook of the LoRA (``prev_hooks``, or an empty group, unchanged
    when both strengths are 0, as ComfyUI)."""
    if strength_model == 0 and strength_clip == 0:
        return prev_hooks if prev_hooks is not None else HookGroup()
    path = node.model_path(ctx.model_files, "lora_name", lora_name)
    source = LoraHookSource(load_lora_file(path), lora_name)
    return appended(prev_hooks, source, strength_model, strength_clip)


def model_as_lora_hook(node: ModelPickerNode, ctx: RunContext, ckpt_name: str,
                       strength_model: float, strength_clip: float,
                       prev_hooks: HookGroup | None) -> HookGroup:
    """``prev_hooks`` plus a hook of the checkpoint's components (handles: nothing is read)."""
    path = node.model_path(ctx.model_files, "ckpt_name", ckpt_name)
    components = dict(ctx.models.open(path))
    if "unet" not in components and strength_model != 0:
        raise ValueError(f"{node.type_name} input 'ckpt_name': {ckpt_name!r} holds no "
                         f"diffusion model (components {sorted(components)})")
    source = ModelAsLoraHookSource(components, ckpt_name)
    return appended(prev_hooks, source, strength_model, strength_clip)


class CreateHookLora(ModelPickerNode):
    """A LoRA as a weight hook: it patches only the conditioning it is attached to, and the
    text encoders of a CLIP it is set on (SetClipHooks)."""

    display_name = "Create Hook LoRA"
    category = CREATE_CATEGORY
    experimental = True
    pickers = {"lora_name": "loras"}
    inputs = (
        model_picker("lora_name", "loras", "The LoRA file."),
        _strength("strength_model", "diffusion model"),
        _strength("strength_clip", "text encoders"),
        _prev_hooks(),
    )
    outputs = (Output(HOOKS),)

    def run(self, ctx: RunContext, lora_name: str, strength_model: float,
            strength_clip: float, prev_hooks: HookGroup | None = None) -> tuple[Any, ...]:
        return (lora_hook(self, ctx, lora_name, strength_model, strength_clip, prev_hooks),)


class CreateHookLoraModelOnly(ModelPickerNode):
    """A LoRA as a weight hook on the diffusion model only."""

    display_name = "Create Hook LoRA (MO)"
    category = CREATE_CATEGORY
    experimental = True
    pickers = {"lora_name": "loras"}
    inputs = (
        model_picker("lora_name", "loras", "The LoRA file."),
        _strength("strength_model", "diffusion model"),
        _prev_hooks(),
    )

    outputs = (Output(HOOKS),)

    def run(self, ctx: RunContext, lora_name: str, strength_model: float,
            prev_hooks: HookGroup | None = None) -> tuple[Any, ...]:
        return (lora_hook(self, ctx, lora_name, strength_model, 0.0, prev_hooks),)


class CreateHookModelAsLora(ModelPickerNode):
    """A checkpoint's weights as a weight hook: hooked conditioning is evaluated with the model
    moved towards that checkpoint by strength_model (1: its weights)."""

    display_name = "Create Hook Model as LoRA"
    category = CREATE_CATEGORY
    experimental = True
    pickers = {"ckpt_name": "checkpoints"}
    inputs = (
        model_picker("ckpt_name", "checkpoints", "The checkpoint whose weights are the hook."),
        _strength("strength_model", "diffusion model"),
        _strength("strength_clip", "text encoders"),
        _prev_hooks(),
    )
    outputs = (Output(HOOKS),)

    def run(self, ctx: RunContext, ckpt_name: str, strength_model: float,
            strength_clip: float, prev_hooks: HookGroup | None = None) -> tuple[Any, ...]:
        return (model_as_lora_hook(self, ctx, ckpt_name, strength_model, strength_clip,
                                   prev_hooks),)


class CreateHookModelAsLoraModelOnly(ModelPickerNode):
    """A checkpoint's diffusion-model weights as a weight hook."""

    display_name = "Create Hook Model as LoRA (MO)"
    category = CREATE_CATEGORY
    experimental = True
    pickers = {"ckpt_name": "checkpoints"}
    inputs = (
        model_picker("ckpt_name", "checkpoints", "The checkpoint whose weights are the hook."),
        _strength("strength_model", "diffusion model"),
        _prev_hooks(),
    )

    outputs = (Output(HOOKS),)

    def run(self, ctx: RunContext, ckpt_name: str, strength_model: float,
            prev_hooks: HookGroup | None = None) -> tuple[Any, ...]:
        return (model_as_lora_hook(self, ctx, ckpt_name, strength_model, 0.0, prev_hooks),)


CREATE_HOOK_NODES = [CreateHookLora, CreateHookLoraModelOnly, CreateHookModelAsLora,
                     CreateHookModelAsLoraModelOnly]
