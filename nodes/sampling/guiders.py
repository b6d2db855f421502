"""GUIDER nodes beyond CFGGuider: BasicGuider, DualCFGGuider (ComfyUI's
``nodes_custom_sampler``) and PerpNegGuider (``nodes_perpneg``)."""

from __future__ import annotations

from typing import Any

from diffusion.guidance import Cond
from nodes.api import CONDITIONING, GUIDER, Combo, Float, Link, Node, Output, RunContext
from nodes.payloads import DiffusionModel
from nodes.sampling.ksampler import model_input
from nodes.sampling.payloads import BasicGuide, DualCfgGuide, PerpNegGuide

GUIDERS_CATEGORY = "sampling/custom_sampling/guiders"


def _cfg(name: str, tip: str) -> Float:
    return Float(name, default=8.0, min=0.0, max=100.0, step=0.1, round=0.01, tooltip=tip)


def _conditioning(name: str, tip: str) -> Link:
    return Link(name, CONDITIONING, tooltip=tip)


class BasicGuider(Node):
    """Guides the model with one conditioning, without classifier-free guidance."""

    display_name = "BasicGuider"
    category = GUIDERS_CATEGORY
    inputs = (model_input(), _conditioning("conditioning", "What the image should show."))
    outputs = (Output(GUIDER),)

    def run(self, ctx: RunContext, model: DiffusionModel,
            conditioning: tuple[Cond, ...]) -> tuple[Any, ...]:
        return (BasicGuide(model, tuple(conditioning)),)


class DualCFGGuider(Node):
    """Two positive conditionings: CFG of cond2 against the negative, plus cond1's difference
    from cond2 (``regular``), or CFG of cond1 against cond2 nested inside (``nested``)."""

    display_name = "DualCFGGuider"
    category = GUIDERS_CATEGORY
    inputs = (
        model_input(),
        _conditioning("cond1", "The main conditioning."),
        _conditioning("cond2", "The second conditioning (guided against the negative)."),
        _conditioning("negative", "What to steer away from."),
        _cfg("cfg_conds", "Scale of cond1 against cond2."),
        _cfg("cfg_cond2_negative", "Scale of cond2 against the negative."),
        Combo("style", choices=("regular", "nested"),
              tooltip="regular: both guidances added; nested: cond1 vs cond2 inside."),
    )
    outputs = (Output(GUIDER),)

    def run(self, ctx: RunContext, model: DiffusionModel, cond1: tuple[Cond, ...],
            cond2: tuple[Cond, ...], negative: tuple[Cond, ...], cfg_conds: float,
            cfg_cond2_negative: float, style: str) -> tuple[Any, ...]:
        if style not in ("regular", "nested"):
            raise ValueError(f"DualCFGGuider: input 'style' must be 'regular' or 'nested', "
                             f"got {style!r}")
        return (DualCfgGuide(model, tuple(cond1), tuple(cond2), tuple(negative), cfg_conds,
                             cfg_cond2_negative, style == "nested"),)


class PerpNegGuider(Node):
    """Perp-Neg: pushes away only from the part of the negative prompt perpendicular to the
    positive one (both relative to the empty prompt)."""

    display_name = "PerpNegGuider"
    category = "_for_testing"
    experimental = True
    inputs = (
        model_input(),
        _conditioning("positive", "What the image should show."),
        _conditioning("negative", "What to steer away from."),
        _conditioning("empty_conditioning", "The empty prompt's conditioning."),
        _cfg("cfg", "Scale of the positive direction."),
        Float("neg_scale", default=1.0, min=0.0, max=100.0, step=0.01,
              tooltip="Scale of the perpendicular negative direction."),
    )
    outputs = (Output(GUIDER),)

    def run(self, ctx: RunContext, model: DiffusionModel, positive: tuple[Cond, ...],
            negative: tuple[Cond, ...], empty_conditioning: tuple[Cond, ...], cfg: float,
            neg_scale: float) -> tuple[Any, ...]:
        return (PerpNegGuide(model, tuple(positive), tuple(negative), tuple(empty_conditioning),
                             cfg, neg_scale),)


GUIDER_NODES: list[type[Node]] = [BasicGuider, DualCFGGuider, PerpNegGuider]
