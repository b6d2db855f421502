"""LoraSave ("Extract and Save Lora"): a LoRA file from the weights of a difference model.

As in ComfyUI, the node factors the PATCHED weights of the MODEL (and CLIP) it is given (every
weight, not only patched ones), so it is meant for the output of ModelMergeSubtract /
CLIPMergeSubtract, whose weights are ``multiplier * (model1 - model2)``. Keys are ComfyUI's
(which its LoRA loader reads): ``diffusion_model.<UNet key>`` and
``text_encoders.<clip_l|clip_h|clip_g>.transformer.<transformers key>`` without ``.weight``,
followed by ``.lora_up.weight`` / ``.lora_down.weight`` (standard), ``.diff`` (full_diff, and
1-D weights when bias_diff) and ``.diff_b`` (biases when bias_diff); every tensor fp16, no
metadata. The factors come from a truncated SVD of each weight clamped at ComfyUI's 0.99
quantile (``diffusion.patching.extract``) and are computed one weight at a time while the file
is streamed.
"""

from __future__ import annotations

from typing import cast

from diffusion.patching.extract import LORA_TYPES, LoraType
from diffusion.saving import Part, prefixed, save_parts, text_encoder_views
from diffusion.saving.lora import lora_part
from nodes.api import CLIP, MODEL, Boolean, Combo, Int, Link, Node, NodeResult, RunContext, String
from nodes.models.save_files import output_file
from nodes.models.saving import HIDDEN, opener
from nodes.payloads import Clip, DiffusionModel


def lora_parts(ctx: RunContext, rank: int, lora_type: LoraType, bias_diff: bool,
               model: DiffusionModel | None, clip: Clip | None) -> list[Part]:
    """The UNet's part (``diffusion_model.``), then each text encoder's."""
    parts = []
    if model is not None:
        parts.append(lora_part(opener(ctx, model.unet, model.patches), prefixed(""),
                               "diffusion_model.", rank, lora_type, bias_diff))
    for encoder in clip.encoders if clip is not None else ():
        prefix = f"text_encoders.{encoder.name}.transformer."
        parts.append(lora_part(opener(ctx, encoder.handle, encoder.patches),
                               text_encoder_views, prefix, rank, lora_type, bias_diff))
    return parts


class LoraSave(Node):
    """Extracts a LoRA of the given rank from a difference model (ModelMergeSubtract /
    CLIPMergeSubtract output) and saves it in the output folder."""

    display_name = "Extract and Save Lora"
    category = "_for_testing"
    output_node = True
    experimental = True
    hidden = HIDDEN
    inputs = (
        String("filename_prefix", default="loras/ComfyUI_extracted_lora",
               tooltip="The file name prefix inside the output folder; '/' makes subfolders."),
        Int("rank", default=8, min=1, max=4096, step=1,
            tooltip="The LoRA rank (capped per weight at its smaller dimension)."),
        Combo("lora_type", choices=LORA_TYPES,
              tooltip="standard: low-rank factors; full_diff: every weight difference whole."),
        Boolean("bias_diff", default=True,
                tooltip="Also save the bias and 1-D weight (norm) differences whole."),
        Link("model_diff", MODEL, optional=True,
             tooltip="The ModelSubtract output to be converted to a lora."),
        Link("text_encoder_diff", CLIP, optional=True,
             tooltip="The CLIPSubtract output to be converted to a lora."),
    )

    def run(self, ctx: RunContext, filename_prefix: str, rank: int, lora_type: str,
            bias_diff: bool, model_diff: DiffusionModel | None = None,
            text_encoder_diff: Clip | None = None) -> NodeResult:
        if lora_type not in LORA_TYPES:
            raise ValueError(f"LoraSave input 'lora_type': {lora_type!r} is not one of "
                             f"{list(LORA_TYPES)}")
        if model_diff is None and text_encoder_diff is None:
            return NodeResult(())  # ComfyUI writes nothing either
        parts = lora_parts(ctx, rank, cast(LoraType, lora_type), bias_diff, model_diff,
                           text_encoder_diff)
        with output_file(ctx, self.type_name, filename_prefix) as (out, saved):
            save_parts(out, parts, None)
        ctx.note("saved", [saved.relative])
        return NodeResult(())


__all__ = ["LoraSave", "lora_parts"]
