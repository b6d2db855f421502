"""StyleModelLoader and StyleModelApply (ComfyUI's ``nodes.py``).

StyleModelApply runs the style model on the CLIP vision output's last hidden states, flattens
the images' tokens into one row (1, images x tokens, context) and appends it to every entry's
cross-attention tokens. ``multiply`` scales the tokens by strength. ``attn_bias`` leaves them as
they are: ComfyUI turns strength into an attention-mask bias that only models with joint
attention masks read (Flux); its SD UNets ignore it, and so do ours (the run logs a warning when
strength is not 1).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from diffusion.guidance.cond import Cond
from diffusion.style import STYLE_COMPONENT, StyleAdapter, StyleConfig, style_tokens
from nodes.api import (
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    STYLE_MODEL,
    Combo,
    Float,
    Link,
    Node,
    Output,
    RunContext,
)
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.vision.encode import module_config
from nodes.vision_payloads import ClipVisionOutput, StyleModel

STRENGTH_TYPES = ("multiply", "attn_bias")


class StyleModelLoader(ModelPickerNode):
    """Loads a T2I-Adapter style model from the style_models folder."""

    display_name = "Load Style Model"
    category = "loaders"
    pickers = {"style_model_name": "style_models"}
    inputs = (model_picker("style_model_name", "style_models", "The style model file."),)
    outputs = (Output(STYLE_MODEL),)

    def run(self, ctx: RunContext, style_model_name: str) -> tuple[Any, ...]:
        path = self.model_path(ctx.model_files, "style_model_name", style_model_name)
        handles = ctx.models.open(path)
        if STYLE_COMPONENT not in handles:
            raise ValueError(f"StyleModelLoader input 'style_model_name': {style_model_name!r} "
                             f"is not a style model (components {sorted(handles)})")
        handle = handles[STYLE_COMPONENT]
        return (StyleModel(handle, module_config(handle, StyleConfig)),)


def _append(cond: Cond, tokens: torch.Tensor) -> Cond:
    text = cond.cross_attn  # (B, T, C)
    if text.shape[-1] != tokens.shape[-1]:
        raise ValueError(f"StyleModelApply: the style model makes {tokens.shape[-1]}-wide "
                         f"tokens; the conditioning is {text.shape[-1]}-wide (a style model "
                         "fits the model family whose context has its width, SD1.x: 768)")
    style = tokens.to(text).expand(text.shape[0], -1, -1)  # (B, n, C)
    return dataclasses.replace(cond, cross_attn=torch.cat([text, style], dim=1))


class StyleModelApply(Node):
    """Adds a style model's image tokens (from a CLIP vision output) to the conditioning."""

    display_name = "Apply Style Model"
    category = "conditioning/style_model"
    inputs = (
        Link("conditioning", CONDITIONING, tooltip="The conditioning to add the tokens to."),
        Link("style_model", STYLE_MODEL, tooltip="The style model."),
        Link("clip_vision_output", CLIP_VISION_OUTPUT,
             tooltip="The encoded style images (CLIP ViT-L/14)."),
        Float("strength", default=1.0, min=0.0, max=10.0, step=0.001,
              tooltip="How strongly the style tokens condition."),
        Combo("strength_type", choices=STRENGTH_TYPES,
              tooltip="multiply: scale the tokens; attn_bias: an attention bias, which only "
                      "Flux-style models read (SD UNets take the tokens unscaled)."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning: tuple[Cond, ...], style_model: StyleModel,
            clip_vision_output: ClipVisionOutput, strength: float,
            strength_type: str) -> tuple[Any, ...]:
        if strength_type not in STRENGTH_TYPES:
            raise ValueError(f"StyleModelApply input 'strength_type': {strength_type!r}; "
                             f"choose one of {list(STRENGTH_TYPES)}")
        with ctx.models.use(style_model.handle) as model:
            assert isinstance(model, StyleAdapter)
            hidden = clip_vision_output.last_hidden_state.to(ctx.models.device)
            tokens = style_tokens(model, hidden).cpu()  # (1, n * tokens, C)
        if strength_type == "multiply":
            tokens = tokens * strength
        elif strength != 1.0:
            ctx.log.warning("StyleModelApply: strength_type 'attn_bias' is an attention-mask "
                            "bias only Flux-style models read; SD UNets use the style tokens "
                            "at full strength (as ComfyUI does)")
        return (tuple(_append(c, tokens) for c in conditioning),)
