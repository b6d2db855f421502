"""Merging with a ratio per UNet block: ModelMergeBlocks and the model-specific
ModelMergeSD1 / ModelMergeSD2 / ModelMergeSDXL (ComfyUI's ``nodes_model_merging`` and
``nodes_model_merging_model_specific``).

Each ratio input is named by a key prefix; a UNet key takes the ratio of the LONGEST input name
it starts with, and a key no name matches takes the FIRST input's ratio (ComfyUI's rule: the
default is the first ratio argument). So for ModelMergeBlocks ``time_embed.`` / ``label_emb.``
use ``input``, and ``out`` covers both ``output_blocks.*`` and the final ``out.*`` layers
(both start with "out"). The SD1/SD2 names end with a dot (``input_blocks.1.`` is not a prefix
of ``input_blocks.10.``); the SDXL names do not (SDXL has blocks 0-8 only). Each key becomes
``ratio * model1 + (1 - ratio) * model2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.api import MODEL, Float, Link, Node, Output, RunContext
from nodes.models.merge_support import merge_models
from nodes.payloads import DiffusionModel

MODEL_SPECIFIC = "advanced/model_merging/model_specific"


def block_ratio(key: str, ratios: Mapping[str, float]) -> float:
    """The ratio of the longest name in ``ratios`` that ``key`` starts with, else the first."""
    best = max((name for name in ratios if key.startswith(name)), key=len, default=None)
    return ratios[best] if best is not None else next(iter(ratios.values()))


def _ratio(name: str) -> Float:
    return Float(name, default=1.0, min=0.0, max=1.0, step=0.01,
                 tooltip=f"Weight of model1 for UNet keys starting with {name!r} "
                         "(model2 gets 1 - this).")


def _names(count: int, dot: str) -> list[str]:
    blocks = [f"input_blocks.{i}{dot}" for i in range(count)]
    blocks += [f"middle_block.{i}{dot}" for i in range(3)]
    blocks += [f"output_blocks.{i}{dot}" for i in range(count)]
    return ["time_embed.", "label_emb.", *blocks, "out."]


MODELS = (Link("model1", MODEL, tooltip="The model whose other settings are kept."),
          Link("model2", MODEL, tooltip="The model merged into model1."))


class BlockMerge(Node):
    """Base of the per-block merges: every declared FLOAT input is a key-prefix ratio."""

    category = MODEL_SPECIFIC
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model1: DiffusionModel, model2: DiffusionModel,
            **ratios: float) -> tuple[Any, ...]:
        names = [i.name for i in self.inputs if isinstance(i, Float)]
        unknown = sorted(set(ratios) - set(names))
        if unknown:
            raise ValueError(f"{self.type_name}: unknown ratio inputs {unknown}")
        ordered = {name: float(ratios[name]) for name in names}

        def scales(key: str) -> tuple[float, float]:
            ratio = block_ratio(key, ordered)
            return ratio, 1.0 - ratio

        return (merge_models(ctx, self.type_name, model1, model2, scales),)


class ModelMergeBlocks(BlockMerge):
    """Blends two diffusion models with one ratio for the input blocks, one for the middle
    block and one for the output blocks (keys matching none use the input ratio)."""

    category = "advanced/model_merging"
    inputs = (*MODELS, _ratio("input"), _ratio("middle"), _ratio("out"))


class ModelMergeSD1(BlockMerge):
    """Blends two SD1.x diffusion models with one ratio per UNet block."""

    inputs = (*MODELS, *(_ratio(name) for name in _names(12, ".")))


class ModelMergeSD2(BlockMerge):
    """Blends two SD2.x diffusion models with one ratio per UNet block."""

    inputs = (*MODELS, *(_ratio(name) for name in _names(12, ".")))


class ModelMergeSDXL(BlockMerge):
    """Blends two SDXL diffusion models with one ratio per UNet block."""

    inputs = (*MODELS, *(_ratio(name) for name in _names(9, "")))


__all__ = ["BlockMerge", "ModelMergeBlocks", "ModelMergeSD1", "ModelMergeSD2",
           "ModelMergeSDXL", "block_ratio"]
