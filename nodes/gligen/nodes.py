"""GLIGENLoader and GLIGENTextBoxApply (ComfyUI's ``nodes.py``): a GLIGEN text-box model from
``models/gligen``, and phrase boxes added to conditioning entries (their ``gligen`` key)."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import Tensor

from diffusion.gligen import GligenBox, GligenError, GligenModel, GligenPosition, load_gligen
from diffusion.guidance.cond import Cond, Conditioning
from nodes.api import CLIP, CONDITIONING, GLIGEN, Int, Link, Node, Output, RunContext, String
from nodes.conditioning.encode import encode_text
from nodes.models.pickers import ModelPickerNode, model_picker
from nodes.payloads import Clip

MAX_RESOLUTION = 16384
LATENT_UNIT = 8  # GLIGEN boxes are kept in latent samples (pixels // 8), as ComfyUI does


class GLIGENLoader(ModelPickerNode):
    """Loads a GLIGEN text-box grounding model (the fusers of every UNet transformer block and
    the position net) from the gligen folder."""

    category = "loaders"
    pickers = {"gligen_name": "gligen"}
    inputs = (model_picker("gligen_name", "gligen",
                           "The GLIGEN model file, e.g. gligen_sd14_textbox_pruned."),)
    outputs = (Output(GLIGEN),)

    def run(self, ctx: RunContext, gligen_name: str) -> tuple[Any, ...]:
        path = self.model_path(ctx.model_files, "gligen_name", gligen_name)
        try:
            model = load_gligen(path)
        except GligenError as exc:
            raise ValueError(f"GLIGENLoader input 'gligen_name': {exc}") from exc
        ctx.note("gligen", {"fused_transformers": len(model.config.fusers),
                            "phrase_width": model.config.position_in_dim})
        return (model,)


def phrase_embedding(clip: Clip, text: str, node: str) -> Tensor:
    """The phrase's unprojected pooled CLIP-L output (1, 768), what GLIGEN was trained on
    (ComfyUI's ``return_pooled="unprojected"``)."""
    last = clip.encoders[-1] if clip.encoders else None
    if last is None or last.name != "clip_l":
        raise ValueError(
            f"{node} input 'clip': GLIGEN grounds phrases with CLIP-L's pooled output; this CLIP "
            f"({clip.family}, {'+'.join(clip.names())}) does not end with CLIP-L")
    _, pooled = encode_text(clip, text)
    return pooled  # (1, 768)


class GLIGENTextBoxApply(Node):
    """Grounds a phrase in a box: every entry of conditioning_to gets the box (added to its
    earlier ones) with the GLIGEN model, which applies it in the UNet's transformer blocks."""

    category = "conditioning/gligen"
    inputs = (
        Link("conditioning_to", CONDITIONING, tooltip="The entries the box is added to."),
        Link("clip", CLIP, tooltip="The CLIP (CLIP-L) that encodes the phrase."),
        Link("gligen_textbox_model", GLIGEN, tooltip="The GLIGEN model from GLIGENLoader."),
        String("text", multiline=True, dynamic_prompts=True,
               tooltip="The phrase to place in the box."),
        Int("width", default=64, min=8, max=MAX_RESOLUTION, step=8,
            tooltip="Box width in pixels."),
        Int("height", default=64, min=8, max=MAX_RESOLUTION, step=8,
            tooltip="Box height in pixels."),
        Int("x", default=0, min=0, max=MAX_RESOLUTION, step=8,
            tooltip="Box left edge in pixels."),
        Int("y", default=0, min=0, max=MAX_RESOLUTION, step=8, tooltip="Box top edge in pixels."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning_to: Conditioning, clip: Clip,
            gligen_textbox_model: GligenModel, text: str, width: int, height: int, x: int,
            y: int) -> tuple[Any, ...]:
        if not isinstance(gligen_textbox_model, GligenModel):
            raise TypeError(f"GLIGENTextBoxApply input 'gligen_textbox_model': expected a "
                            f"GLIGEN model, got {type(gligen_textbox_model).__name__}")
        pooled = phrase_embedding(clip, text, self.type_name)
        box = GligenBox(pooled, height // LATENT_UNIT, width // LATENT_UNIT, y // LATENT_UNIT,
                        x // LATENT_UNIT)
        try:
            out = tuple(_with_box(entry, gligen_textbox_model, box) for entry in conditioning_to)
        except ValueError as exc:
            raise ValueError(f"GLIGENTextBoxApply: {exc}") from exc
        return (out,)


def _with_box(entry: Cond, model: GligenModel, box: GligenBox) -> Cond:
    """The entry with ``box`` after its earlier boxes, all grounded by ``model`` (ComfyUI keeps
    the earlier boxes and takes the latest model)."""
    earlier: tuple[GligenBox, ...] = ()
    if entry.gligen is not None:
        if not isinstance(entry.gligen, GligenPosition):
            raise ValueError(f"the entry's grounding is a {type(entry.gligen).__name__}, "
                             "not GLIGEN text boxes")
        earlier = entry.gligen.boxes
    return dataclasses.replace(entry, gligen=GligenPosition(model, (*earlier, box)))


GLIGEN_NODES: list[type[Node]] = [GLIGENLoader, GLIGENTextBoxApply]
