"""Saving nodes: CheckpointSave, ModelSave, CLIPSave, VAESave (ComfyUI's declarations).

Each writes ``.safetensors`` to the output folder (``nodes.models.save_files``), streamed
tensor by tensor from the resident modules (``diffusion.saving``): the weights a consumer would
use, patches (merges, LoRAs) applied, in the resident dtype (the ModelManager's: float32 on a
CPU, the device policy's fp16/bf16 on an accelerator). Layouts are the ones the loaders (ours
and ComfyUI's) read:

* CheckpointSave: the original single file (``model.diffusion_model.``, ``first_stage_model.``,
  the family's text prefixes), ComfyUI's ``v_pred`` / ``ztsnr`` markers, ``modelspec.*`` and
  the workflow as metadata; it reloads through CheckpointLoaderSimple bit-identically.
* ModelSave: the UNet alone, same prefix, markers and metadata (for UNETLoader).
* CLIPSave: one file per text encoder, ``<prefix>_<clip_l|clip_h|clip_g>_…``, transformers keys
  (OpenCLIP towers converted, as ComfyUI keeps them), metadata ``format: pt`` + workflow.
* VAESave: the VAE's bare keys (``encoder.…``) + workflow.

The files are reported with ``ctx.note("saved", [...])``; like ComfyUI the nodes show nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from diffusion.patching import PatchSet
from diffusion.saving import (
    Part,
    constant_part,
    marker_tensors,
    modelspec,
    prefixed,
    save_parts,
    text_encoder_views,
    text_prefix,
    view_part,
)
from diffusion.saving.layout import UNET_PREFIX, VAE_PREFIX
from nodes.api import CLIP, MODEL, VAE, Hidden, Link, Node, NodeResult, RunContext, String
from nodes.models.save_files import output_file, workflow_metadata
from nodes.payloads import Clip, DiffusionModel, TextEncoderRef, Vae

CATEGORY = "advanced/model_merging"
HIDDEN = frozenset({Hidden.PROMPT, Hidden.EXTRA_PNGINFO})
_PREFIX_TIP = ("The file name prefix inside the output folder; '/' makes subfolders. "
               "%year% %month% %day% %hour% %minute% %second% are replaced.")


def _prefix(default: str) -> String:
    return String("filename_prefix", default=default, tooltip=_PREFIX_TIP)


def opener(ctx: RunContext, handle: Any,
          patches: PatchSet = PatchSet.EMPTY) -> Callable[[], AbstractContextManager[Any]]:
    """Opens ``handle``'s component resident with ``patches`` (pinned inside the block)."""
    return lambda: ctx.models.use(handle, patches)


def unet_parts(ctx: RunContext, model: DiffusionModel) -> list[Part]:
    sampling = model.model_sampling
    return [view_part(opener(ctx, model.unet, model.patches), prefixed(UNET_PREFIX)),
            constant_part(marker_tensors(sampling.prediction, sampling.zsnr))]


def _encoder_part(ctx: RunContext, clip: Clip, encoder: TextEncoderRef) -> Part:
    prefix = text_prefix(clip.family, encoder.name)
    return view_part(opener(ctx, encoder.handle, encoder.patches), prefixed(prefix))


def _check_compatible(model: DiffusionModel, clip: Clip) -> None:
    """The text prefixes are the model family's: a clip of another family cannot go in."""
    if clip.family != model.family:
        raise ValueError(f"CheckpointSave: the model is {model.family} but the clip is "
                         f"{clip.family}; a checkpoint holds one family's text encoders")


def _save(ctx: RunContext, node: str, prefix: str, parts: Sequence[Part],
          metadata: Callable[[str, int], dict[str, str]]) -> str:
    with output_file(ctx, node, prefix) as (out, saved):
        save_parts(out, parts, metadata(saved.name, saved.counter))
    return saved.relative


def _checkpoint_metadata(ctx: RunContext, model: DiffusionModel
                         ) -> Callable[[str, int], dict[str, str]]:
    def metadata(name: str, counter: int) -> dict[str, str]:
        spec = modelspec(model.family, model.model_sampling.prediction, f"{name} {counter}")
        return {**spec, **workflow_metadata(ctx)}

    return metadata


class CheckpointSave(Node):
    """Saves the model, its text encoders and VAE as one single-file checkpoint in the output
    folder (patches such as merges applied), readable by Load Checkpoint."""

    display_name = "Save Checkpoint"
    category = CATEGORY
    output_node = True
    hidden = HIDDEN
    inputs = (Link("model", MODEL, tooltip="The diffusion model to save."),
              Link("clip", CLIP, tooltip="The text encoders to save with it."),
              Link("vae", VAE, tooltip="The VAE to save with it."),
              _prefix("checkpoints/ComfyUI"))

    def run(self, ctx: RunContext, model: DiffusionModel, clip: Clip, vae: Vae,
            filename_prefix: str) -> NodeResult:
        _check_compatible(model, clip)
        parts = unet_parts(ctx, model)
        parts += [_encoder_part(ctx, clip, encoder) for encoder in clip.encoders]
        parts.append(view_part(opener(ctx, vae.handle), prefixed(VAE_PREFIX)))
        saved = _save(ctx, self.type_name, filename_prefix, parts,
                      _checkpoint_metadata(ctx, model))
        ctx.note("saved", [saved])
        return NodeResult(())


class ModelSave(Node):
    """Saves the diffusion model (UNet) on its own in the output folder (patches applied),
    readable by Load Diffusion Model."""

    category = CATEGORY
    output_node = True
    hidden = HIDDEN
    inputs = (Link("model", MODEL, tooltip="The diffusion model to save."),
              _prefix("diffusion_models/ComfyUI"))

    def run(self, ctx: RunContext, model: DiffusionModel, filename_prefix: str) -> NodeResult:
        saved = _save(ctx, self.type_name, filename_prefix, unet_parts(ctx, model),
                      _checkpoint_metadata(ctx, model))
        ctx.note("saved", [saved])
        return NodeResult(())


class CLIPSave(Node):
    """Saves each text encoder of the CLIP as its own file in the output folder
    (``<prefix>_clip_l``, ``_clip_g`` …), readable by Load CLIP / DualCLIPLoader."""

    category = CATEGORY
    output_node = True
    hidden = HIDDEN
    inputs = (Link("clip", CLIP, tooltip="The text encoders to save."), _prefix("clip/ComfyUI"))

    def run(self, ctx: RunContext, clip: Clip, filename_prefix: str) -> NodeResult:
        metadata = {"format": "pt", **workflow_metadata(ctx)}
        saved = []
        for encoder in clip.encoders:
            part = view_part(opener(ctx, encoder.handle, encoder.patches), text_encoder_views)
            saved.append(_save(ctx, self.type_name, f"{filename_prefix}_{encoder.name}", [part],
                               lambda _name, _counter: metadata))
        ctx.note("saved", saved)
        return NodeResult(())


class VAESave(Node):
    """Saves the VAE on its own in the output folder, readable by Load VAE."""

    category = CATEGORY
    output_node = True
    hidden = HIDDEN
    inputs = (Link("vae", VAE, tooltip="The VAE to save."), _prefix("vae/ComfyUI_vae"))

    def run(self, ctx: RunContext, vae: Vae, filename_prefix: str) -> NodeResult:
        metadata = workflow_metadata(ctx)
        part = view_part(opener(ctx, vae.handle), prefixed(""))
        saved = _save(ctx, self.type_name, filename_prefix, [part],
                      lambda _name, _counter: metadata)
        ctx.note("saved", [saved])
        return NodeResult(())


SAVE_NODES = [CheckpointSave, CLIPSave, VAESave, ModelSave]

__all__ = ["SAVE_NODES", "CLIPSave", "CheckpointSave", "ModelSave", "VAESave", "opener",
           "unet_parts"]
