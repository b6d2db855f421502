"""What every merge node shares: the family check, the plan over shared keys, the new payload.

A merge appends ``MergePatch``es to model1's (or each of clip1's encoders') existing patches;
the inputs are never modified (``dataclasses.replace``). Like ComfyUI, it walks model2's keys
and patches those model1 also has; model2's own patches are part of what is read (ComfyUI's
``get_key_patches``). Models of different families are refused. Within a family a key whose
shapes differ (an inpainting UNet's first conv) is left unmerged, as ComfyUI leaves it with a
warning; here it is also recorded with ``ctx.note``. A merge where no shared key has equal
shapes is refused.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from diffusion.component_shapes import parameter_shapes
from diffusion.memory import ModelHandle
from diffusion.patching import MergePlan, PatchSet, plan_merge
from diffusion.patching.merge import Scales
from nodes.api import RunContext
from nodes.payloads import Clip, DiffusionModel, TextEncoderRef

logger = logging.getLogger(__name__)

# ComfyUI's CLIP merges leave these out (a buffer and the contrastive temperature).
CLIP_SKIPPED_SUFFIXES = ("position_ids", "logit_scale")


def clip_skip(key: str) -> bool:
    """Whether a CLIP merge leaves ``key`` alone (``…position_ids`` / ``…logit_scale``)."""
    return key.rsplit(".", 1)[-1] in CLIP_SKIPPED_SUFFIXES


def _check_plan(ctx: RunContext, node: str, what: str, plan: MergePlan) -> None:
    shown = [f"{key} {a} vs {b}" for key, a, b in plan.mismatched[:3]]
    if plan.shared == 0 or (plan.mismatched and len(plan.mismatched) == plan.shared):
        raise ValueError(f"{node}: the two {what}s share no weight of equal shape "
                         f"({plan.shared} shared keys; e.g. {shown})")
    if plan.mismatched:
        logger.warning("%s: %d %s weights differ in shape and are not merged (%s)", node,
                       len(plan.mismatched), what, "; ".join(shown))
        ctx.note("unmerged_keys", [key for key, _, _ in plan.mismatched])


def _plan(handle: ModelHandle, other: ModelHandle, other_patches: PatchSet, scales: Scales,
          skip: Callable[[str], bool] | None = None) -> MergePlan:
    return plan_merge(parameter_shapes(handle), parameter_shapes(other), other, scales,
                      source_patches=other_patches, skip=skip or (lambda key: False))


def _check_families(node: str, kind: str, first: str, second: str, paths: tuple[str, str]
                    ) -> None:
    if first != second:
        raise ValueError(f"{node}: cannot merge {kind}1 ({first}, {paths[0]}) with {kind}2 "
                         f"({second}, {paths[1]}): different model families")


def merge_models(ctx: RunContext, node: str, model1: DiffusionModel, model2: DiffusionModel,
                 scales: Scales) -> DiffusionModel:
    """model1 with each shared UNet weight W1 replaced by ``a * W1 + b * W2``,
    ``(a, b) = scales(key)``."""
    _check_families(node, "model", model1.family, model2.family,
                    (model1.unet.key.path, model2.unet.key.path))
    plan = _plan(model1.unet, model2.unet, model2.patches, scales)
    _check_plan(ctx, node, "model", plan)
    return dataclasses.replace(model1, patches=model1.patches.plus(*plan.patches))


def _merge_encoder(ctx: RunContext, node: str, encoder: TextEncoderRef, other: TextEncoderRef,
                   scales: Scales) -> TextEncoderRef:
    plan = _plan(encoder.handle, other.handle, other.patches, scales, clip_skip)
    _check_plan(ctx, node, f"{encoder.name} text encoder", plan)
    return dataclasses.replace(encoder, patches=encoder.patches.plus(*plan.patches))


def merge_clips(ctx: RunContext, node: str, clip1: Clip, clip2: Clip, scales: Scales) -> Clip:
    """clip1 with each text encoder clip2 also has (by name) merged as in ``merge_models``."""
    paths = (clip1.encoders[0].handle.key.path if clip1.encoders else "?",
             clip2.encoders[0].handle.key.path if clip2.encoders else "?")
    _check_families(node, "clip", clip1.family, clip2.family, paths)
    others = {encoder.name: encoder for encoder in clip2.encoders}
    encoders = tuple(
        _merge_encoder(ctx, node, encoder, others[encoder.name], scales)
        if encoder.name in others else encoder
        for encoder in clip1.encoders
    )
    return dataclasses.replace(clip1, encoders=encoders)


def blend(ratio: float) -> Scales:
    """``ratio * model1 + (1 - ratio) * model2``: ComfyUI's ``add_patches(p, 1 - ratio, ratio)``."""
    return lambda key: (ratio, 1.0 - ratio)


def difference(multiplier: float) -> Scales:
    """``multiplier * (model1 - model2)``."""
    return lambda key: (multiplier, -multiplier)


def total() -> Scales:
    """``model1 + model2``."""
    return lambda key: (1.0, 1.0)


__all__ = ["CLIP_SKIPPED_SUFFIXES", "blend", "clip_skip", "difference", "merge_clips",
           "merge_models", "total"]
