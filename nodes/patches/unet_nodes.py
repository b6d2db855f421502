"""The ``model_patches/unet`` nodes: FreeU, FreeU_V2, HyperTile, PatchModelAddDownscale (Kohya
Deep Shrink), TomePatchModel, PerturbedAttentionGuidance and Epsilon Scaling."""

from __future__ import annotations

import functools
from typing import Any

from diffusion import model_patches as mp
from nodes.api import MODEL, Boolean, Combo, Float, Int, Node, Output, RunContext
from nodes.latents.resample import upscale_latent
from nodes.patches.common import check_choice, model_input, patched
from nodes.payloads import DiffusionModel

CATEGORY = "model_patches/unet"
RESIZE_METHODS = ("bicubic", "nearest-exact", "bilinear", "area", "bislerp")


def _freeu_inputs(b1: float, b2: float) -> tuple[Any, ...]:
    def factor(name: str, default: float, tip: str) -> Float:
        return Float(name, default=default, min=0.0, max=10.0, step=0.01, tooltip=tip)

    return (
        model_input(),
        factor("b1", b1, "Backbone factor at the deepest level (4x the base channels)."),
        factor("b2", b2, "Backbone factor at the middle level (2x the base channels)."),
        factor("s1", 0.9, "Skip low-frequency factor at the deepest level."),
        factor("s2", 0.2, "Skip low-frequency factor at the middle level."),
    )


class FreeU(Node):
    """FreeU: strengthens the UNet decoder's backbone features and damps the low frequencies of
    its skip connections at the two deepest levels."""

    display_name = "FreeU"
    category = CATEGORY
    inputs = _freeu_inputs(1.1, 1.2)
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, b1: float, b2: float, s1: float,
            s2: float) -> tuple[Any, ...]:
        return (patched(model, mp.FreeU(b1, b2, s1, s2, version=1)),)


class FreeU_V2(Node):  # noqa: N801 - ComfyUI's node name
    """FreeU v2: as FreeU, with the backbone factor weighted by each pixel's normalised mean
    activation."""

    display_name = "FreeU_V2"
    category = CATEGORY
    inputs = _freeu_inputs(1.3, 1.4)
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, b1: float, b2: float, s1: float,
            s2: float) -> tuple[Any, ...]:
        return (patched(model, mp.FreeU(b1, b2, s1, s2, version=2)),)


class HyperTile(Node):
    """Self-attention over tiles of the image (faster at high resolutions)."""

    category = CATEGORY
    inputs = (
        model_input(),
        Int("tile_size", default=256, min=1, max=2048,
            tooltip="Tile size in pixels (at least 32)."),
        Int("swap_size", default=2, min=1, max=128,
            tooltip="How many tile sizes to choose from at random per layer."),
        Int("max_depth", default=0, min=0, max=10,
            tooltip="How many resolution levels below the top are tiled too."),
        Boolean("scale_depth", default=False,
                tooltip="Double the tile size at each deeper level."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, tile_size: int, swap_size: int,
            max_depth: int, scale_depth: bool) -> tuple[Any, ...]:
        return (patched(model, mp.HyperTile(tile_size, swap_size, max_depth, scale_depth)),)


def _method(name: str, tip: str) -> Combo:
    return Combo(name, choices=RESIZE_METHODS, tooltip=tip)


class PatchModelAddDownscale(Node):
    """Kohya Deep Shrink: during the first part of sampling, the UNet works on downscaled
    features after the given input block, so large images keep the composition of the model's
    native size."""

    display_name = "PatchModelAddDownscale (Kohya Deep Shrink)"
    category = CATEGORY
    inputs = (
        model_input(),
        Int("block_number", default=3, min=1, max=32, step=1,
            tooltip="The input block after which the features are downscaled."),
        Float("downscale_factor", default=2.0, min=0.1, max=9.0, step=0.001,
              tooltip="How much smaller the features become."),
        Float("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
              tooltip="Where in the schedule downscaling starts."),
        Float("end_percent", default=0.35, min=0.0, max=1.0, step=0.001,
              tooltip="Where in the schedule it ends."),
        Boolean("downscale_after_skip", default=True,
                tooltip="Keep the block's skip connection at full size."),
        _method("downscale_method", "How the features are downscaled."),
        _method("upscale_method", "How they are brought back to the skip connections' size."),
    )
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, block_number: int,
            downscale_factor: float, start_percent: float, end_percent: float,
            downscale_after_skip: bool, downscale_method: str,
            upscale_method: str) -> tuple[Any, ...]:
        for name, value in (("downscale_method", downscale_method),
                            ("upscale_method", upscale_method)):
            check_choice(self.type_name, name, value, RESIZE_METHODS)
        ms = model.model_sampling
        down = mp.DeepShrinkDown(block_number, downscale_factor,
                                 ms.percent_to_sigma(start_percent),
                                 ms.percent_to_sigma(end_percent),
                                 functools.partial(upscale_latent, method=downscale_method))
        up = mp.DeepShrinkUp(functools.partial(upscale_latent, method=upscale_method))
        return (patched(model, mp.DeepShrink(down, up, downscale_after_skip)),)


class TomePatchModel(Node):
    """Token merging: self-attention at full resolution runs on fewer tokens, the most similar
    ones merged (faster, slightly different images)."""

    category = CATEGORY
    inputs = (model_input(),
              Float("ratio", default=0.3, min=0.0, max=1.0, step=0.01,
                    tooltip="Share of the tokens merged away."))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, ratio: float) -> tuple[Any, ...]:
        return (patched(model, mp.TokenMerging(ratio)),)


class PerturbedAttentionGuidance(Node):
    """Perturbed-Attention Guidance: steers away from the model's prediction with the middle
    block's self-attention replaced by the identity."""

    category = CATEGORY
    inputs = (model_input(),
              Float("scale", default=3.0, min=0.0, max=100.0, step=0.01, round=0.01,
                    tooltip="Strength of the guidance (0: off)."))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, scale: float) -> tuple[Any, ...]:
        return (patched(model, mp.PerturbedAttentionGuidance(scale)),)


class EpsilonScaling(Node):
    """Epsilon Scaling: divides the guided noise prediction by a factor slightly above 1 at
    every step, against exposure bias."""

    type_name = "Epsilon Scaling"
    category = CATEGORY
    inputs = (model_input(),
              Float("scaling_factor", default=1.005, min=0.5, max=1.5, step=0.001,
                    tooltip="The noise prediction is divided by this."))
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel,
            scaling_factor: float) -> tuple[Any, ...]:
        return (patched(model, mp.EpsilonScaling(scaling_factor)),)


UNET_PATCH_NODES: list[type[Node]] = [
    FreeU, FreeU_V2, HyperTile, PatchModelAddDownscale, TomePatchModel,
    PerturbedAttentionGuidance, EpsilonScaling,
]
