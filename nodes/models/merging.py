"""Model and CLIP merging nodes (ComfyUI's ``comfy_extras.nodes_model_merging``).

Each returns model1 (clip1) with merge patches appended; the weights are blended when the
merged model is made resident (``diffusion.patching.merge``), never here.

* ModelMergeSimple: ``ratio * model1 + (1 - ratio) * model2``;
* ModelMergeSubtract: ``multiplier * (model1 - model2)``;
* ModelMergeAdd: ``model1 + model2``;
* CLIPMergeSimple / CLIPMergeSubtract / CLIPMergeAdd: the same on the text encoders, leaving
  ``position_ids`` and ``logit_scale`` alone as ComfyUI does.

Only keys both models have, with equal shapes, are merged (``nodes.models.merge_support``).
"""

from __future__ import annotations

from typing import Any

from nodes.api import CLIP, MODEL, Float, Link, Node, Output, RunContext
from nodes.models.merge_support import blend, difference, merge_clips, merge_models, total
from nodes.payloads import Clip, DiffusionModel

CATEGORY = "advanced/model_merging"


def _ratio(name: str, tooltip: str) -> Float:
    return Float(name, default=1.0, min=0.0, max=1.0, step=0.01, tooltip=tooltip)


def _multiplier(name: str) -> Float:
    return Float("multiplier", default=1.0, min=-10.0, max=10.0, step=0.01,
                 tooltip=f"Scale of the difference ({name}1 - {name}2).")


def _models(kind: type[MODEL] | type[CLIP], name: str) -> tuple[Link, Link]:
    return (Link(f"{name}1", kind, tooltip=f"The {name} whose other settings are kept."),
            Link(f"{name}2", kind, tooltip=f"The {name} merged into {name}1."))


class ModelMergeSimple(Node):
    """Blends two diffusion models: ratio * model1 + (1 - ratio) * model2, weight by weight."""

    category = CATEGORY
    inputs = (*_models(MODEL, "model"),
              _ratio("ratio", "Weight of model1 (1.0 keeps model1, 0.0 takes model2)."))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model1: DiffusionModel, model2: DiffusionModel,
            ratio: float) -> tuple[Any, ...]:
        return (merge_models(ctx, self.type_name, model1, model2, blend(ratio)),)


class ModelMergeSubtract(Node):
    """The difference of two diffusion models, multiplier * (model1 - model2) (for example
    to extract a LoRA from it with LoraSave, or to add it to a third model)."""

    category = CATEGORY
    inputs = (*_models(MODEL, "model"), _multiplier("model"))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model1: DiffusionModel, model2: DiffusionModel,
            multiplier: float) -> tuple[Any, ...]:
        return (merge_models(ctx, self.type_name, model1, model2, difference(multiplier)),)


class ModelMergeAdd(Node):
    """The sum of two diffusion models, model1 + model2 (model2 is usually a difference)."""

    category = CATEGORY
    inputs = _models(MODEL, "model")
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model1: DiffusionModel,
            model2: DiffusionModel) -> tuple[Any, ...]:
        return (merge_models(ctx, self.type_name, model1, model2, total()),)


class CLIPMergeSimple(Node):
    """Blends two CLIP text encoders: ratio * clip1 + (1 - ratio) * clip2."""

    category = CATEGORY
    inputs = (*_models(CLIP, "clip"),
              _ratio("ratio", "Weight of clip1 (1.0 keeps clip1, 0.0 takes clip2)."))
    outputs = (Output(CLIP),)

    def run(self, ctx: RunContext, clip1: Clip, clip2: Clip, ratio: float) -> tuple[Any, ...]:
        return (merge_clips(ctx, self.type_name, clip1, clip2, blend(ratio)),)


class CLIPMergeSubtract(Node):
    """The difference of two CLIP text encoders, multiplier * (clip1 - clip2)."""

    category = CATEGORY
    inputs = (*_models(CLIP, "clip"), _multiplier("clip"))
    outputs = (Output(CLIP),)

    def run(self, ctx: RunContext, clip1: Clip, clip2: Clip,
            multiplier: float) -> tuple[Any, ...]:
        return (merge_clips(ctx, self.type_name, clip1, clip2, difference(multiplier)),)


class CLIPMergeAdd(Node):
    """The sum of two CLIP text encoders, clip1 + clip2."""

    category = CATEGORY
    inputs = _models(CLIP, "clip")
    outputs = (Output(CLIP),)

    def run(self, ctx: RunContext, clip1: Clip, clip2: Clip) -> tuple[Any, ...]:
        return (merge_clips(ctx, self.type_name, clip1, clip2, total()),)


__all__ = ["CLIPMergeAdd", "CLIPMergeSimple", "CLIPMergeSubtract", "ModelMergeAdd",
           "ModelMergeSimple", "ModelMergeSubtract"]
