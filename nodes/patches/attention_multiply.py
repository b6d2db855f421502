"""UNetSelfAttentionMultiply, UNetCrossAttentionMultiply and CLIPAttentionMultiply: the q, k, v
and output projections of every attention layer multiplied by factors, as weight patches
(``WeightScale``) appended to the model's (or each text encoder's) patch set, as ComfyUI's
``add_patches({key: (None,)}, 0.0, factor)`` does. A factor of 1 adds nothing (so the unpatched
weights stay shared). OpenCLIP encoders (SD2.x, SDXL's bigG) hold q, k and v in one fused
``in_proj``: its three row blocks get the three factors."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from diffusion.component_shapes import parameter_shapes
from diffusion.patching import WeightScale
from nodes.api import CLIP, MODEL, Float, Link, Node, Output, RunContext
from nodes.patches.common import model_input
from nodes.payloads import Clip, DiffusionModel

CATEGORY = "_for_testing/attention_experiments"

Factors = tuple[float, float, float, float]  # q, k, v, out


def _factor(name: str) -> Float:
    return Float(name, default=1.0, min=0.0, max=10.0, step=0.01,
                 tooltip=f"Factor on the {name} projection's weight and bias.")


FACTOR_INPUTS = tuple(_factor(name) for name in ("q", "k", "v", "out"))


def _scales(keys: Iterable[str], suffixes: dict[str, tuple[float, ...]]) -> list[WeightScale]:
    """A WeightScale for every key ending in one of ``suffixes`` whose factors are not all 1."""
    found = []
    for key in keys:
        for suffix, factors in suffixes.items():
            if key.endswith(suffix) and any(f != 1.0 for f in factors):
                found.append(WeightScale(key, factors))
    return found


def unet_scales(keys: Iterable[str], attention: str, factors: Factors) -> list[WeightScale]:
    """The UNet's ``attn1`` (self) or ``attn2`` (cross) projections."""
    q, k, v, out = factors
    per = {"to_q": (q,), "to_k": (k,), "to_v": (v,), "to_out.0": (out,)}
    suffixes = {f"{attention}.{name}.{kind}": value for name, value in per.items()
                for kind in ("weight", "bias")}
    return _scales(keys, suffixes)


def clip_scales(keys: Iterable[str], factors: Factors) -> list[WeightScale]:
    """A text encoder's self-attention projections (CLIP and OpenCLIP layouts)."""
    q, k, v, out = factors
    per = {"self_attn.q_proj": (q,), "self_attn.k_proj": (k,), "self_attn.v_proj": (v,),
           "self_attn.out_proj": (out,), "attn.out_proj": (out,)}
    suffixes = {f"{name}.{kind}": value for name, value in per.items()
                for kind in ("weight", "bias")}
    suffixes.update({"attn.in_proj_weight": (q, k, v), "attn.in_proj_bias": (q, k, v)})
    return _scales(keys, suffixes)


def _multiply_unet(model: DiffusionModel, attention: str, factors: Factors) -> DiffusionModel:
    scales = unet_scales(parameter_shapes(model.unet), attention, factors)
    if not scales:
        return model
    return dataclasses.replace(model, patches=model.patches.plus(*scales))


class UNetSelfAttentionMultiply(Node):
    """Multiplies the UNet's self-attention projections."""

    category = CATEGORY
    experimental = True
    inputs = (model_input(), *FACTOR_INPUTS)
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, q: float, k: float, v: float,
            out: float) -> tuple[Any, ...]:
        return (_multiply_unet(model, "attn1", (q, k, v, out)),)


class UNetCrossAttentionMultiply(Node):
    """Multiplies the UNet's cross-attention projections."""

    category = CATEGORY
    experimental = True
    inputs = (model_input(), *FACTOR_INPUTS)
    outputs = (Output(MODEL),)

    def run(self, ctx: RunContext, model: DiffusionModel, q: float, k: float, v: float,
            out: float) -> tuple[Any, ...]:
        return (_multiply_unet(model, "attn2", (q, k, v, out)),)


class CLIPAttentionMultiply(Node):
    """Multiplies the self-attention projections of every text encoder of the CLIP."""

    category = CATEGORY
    experimental = True
    inputs = (Link("clip", CLIP, tooltip="The text encoders to patch (not changed)."),
              *FACTOR_INPUTS)
    outputs = (Output(CLIP),)

    def run(self, ctx: RunContext, clip: Clip, q: float, k: float, v: float,
            out: float) -> tuple[Any, ...]:
        encoders = []
        for ref in clip.encoders:
            scales = clip_scales(parameter_shapes(ref.handle), (q, k, v, out))
            encoders.append(dataclasses.replace(ref, patches=ref.patches.plus(*scales))
                            if scales else ref)
        return (dataclasses.replace(clip, encoders=tuple(encoders)),)


ATTENTION_MULTIPLY_NODES: list[type[Node]] = [
    UNetSelfAttentionMultiply, UNetCrossAttentionMultiply, CLIPAttentionMultiply,
]
