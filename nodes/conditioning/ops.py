"""Conditioning list operations with ComfyUI's semantics: combine, average, concat, area,
percentage area, mask, zero-out and timestep range. Every entry is a frozen ``Cond``; nodes
derive new entries, never modify the inputs."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch
from torch import Tensor

from diffusion.guidance.cond import Area, AreaPercentage, Cond, Conditioning, replace_all
from nodes.api import CONDITIONING, MASK, Combo, Float, Int, Link, Node, Output, RunContext

logger = logging.getLogger(__name__)

MAX_RESOLUTION = 16384
MASK_AREAS = ("default", "mask bounds")


def _conditioning(name: str, tooltip: str = "The conditioning to change.") -> Link:
    return Link(name, CONDITIONING, tooltip=tooltip)


def _strength(tooltip: str) -> Float:
    return Float("strength", default=1.0, min=0.0, max=10.0, step=0.01, tooltip=tooltip)


def _first(conditioning: Conditioning, node: str, name: str) -> Cond:
    if not conditioning:
        raise ValueError(f"{node} input {name!r} is empty; it needs one conditioning entry")
    if len(conditioning) > 1:
        logger.warning("%s: %s has %d entries; only the first is used", node, name,
                       len(conditioning))
    return conditioning[0]


class ConditioningCombine(Node):
    """Joins two conditioning lists; the sampler guides with every entry."""

    display_name = "Conditioning (Combine)"
    category = "conditioning"
    inputs = (_conditioning("conditioning_1", "The first list."),
              _conditioning("conditioning_2", "The second list."))
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning_1: Conditioning,
            conditioning_2: Conditioning) -> tuple[Any, ...]:
        return (tuple(conditioning_1) + tuple(conditioning_2),)


def _average(to: Tensor, source: Tensor, strength: float) -> Tensor:
    """to * strength + source * (1 - strength); source cut or zero-padded to to's length."""
    part = source[:, : to.shape[1]]  # (b, <=T, C)
    if part.shape[1] < to.shape[1]:
        pad = part.new_zeros((part.shape[0], to.shape[1] - part.shape[1], part.shape[2]))
        part = torch.cat([part, pad], dim=1)  # (b, T, C)
    return to * strength + part * (1.0 - strength)


class ConditioningAverage(Node):
    """Blends each entry of conditioning_to with the first entry of conditioning_from
    (strength 1 keeps conditioning_to); pooled outputs are blended too."""

    category = "conditioning"
    inputs = (
        _conditioning("conditioning_to", "The entries to blend into."),
        _conditioning("conditioning_from", "Its first entry is blended in."),
        Float("conditioning_to_strength", default=1.0, min=0.0, max=1.0, step=0.01,
              tooltip="Weight of conditioning_to; the rest comes from conditioning_from."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning_to: Conditioning,
            conditioning_from: Conditioning, conditioning_to_strength: float) -> tuple[Any, ...]:
        source = _first(conditioning_from, self.type_name, "conditioning_from")
        s = conditioning_to_strength
        out = []
        for entry in conditioning_to:
            pooled = entry.pooled_output
            if source.pooled_output is not None:
                mine = pooled if pooled is not None else source.pooled_output
                pooled = mine * s + source.pooled_output * (1.0 - s)
            out.append(dataclasses.replace(
                entry, cross_attn=_average(entry.cross_attn, source.cross_attn, s),
                pooled_output=pooled))
        return (tuple(out),)


class ConditioningConcat(Node):
    """Appends the first entry of conditioning_from to each entry's tokens."""

    display_name = "Conditioning (Concat)"
    category = "conditioning"
    inputs = (_conditioning("conditioning_to", "The entries to extend."),
              _conditioning("conditioning_from", "Its first entry's tokens are appended."))
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning_to: Conditioning,
            conditioning_from: Conditioning) -> tuple[Any, ...]:
        source = _first(conditioning_from, self.type_name, "conditioning_from").cross_attn
        out = tuple(
            dataclasses.replace(e, cross_attn=torch.cat([e.cross_attn, source], dim=1))
            for e in conditioning_to
        )  # each (b, T + T', C)
        return (out,)


class ConditioningSetArea(Node):
    """Limits the conditioning to a rectangle of the image (pixels, rounded down to 8)."""

    display_name = "Conditioning (Set Area)"
    category = "conditioning"
    inputs = (
        _conditioning("conditioning"),
        Int("width", default=64, min=64, max=MAX_RESOLUTION, step=8, tooltip="Area width."),
        Int("height", default=64, min=64, max=MAX_RESOLUTION, step=8, tooltip="Area height."),
        Int("x", default=0, min=0, max=MAX_RESOLUTION, step=8, tooltip="Area left edge."),
        Int("y", default=0, min=0, max=MAX_RESOLUTION, step=8, tooltip="Area top edge."),
        _strength("Weight of the entry where it applies."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning: Conditioning, width: int, height: int, x: int,
            y: int, strength: float) -> tuple[Any, ...]:
        area = Area(height // 8, width // 8, y // 8, x // 8)
        return (replace_all(conditioning, area=area, strength=strength,
                            set_area_to_bounds=False),)


class ConditioningSetAreaPercentage(Node):
    """Limits the conditioning to a rectangle given as fractions of the image."""

    display_name = "Conditioning (Set Area with Percentage)"
    category = "conditioning"
    inputs = (
        _conditioning("conditioning"),
        Float("width", default=1.0, min=0.0, max=1.0, step=0.01, tooltip="Area width."),
        Float("height", default=1.0, min=0.0, max=1.0, step=0.01, tooltip="Area height."),
        Float("x", default=0.0, min=0.0, max=1.0, step=0.01, tooltip="Area left edge."),
        Float("y", default=0.0, min=0.0, max=1.0, step=0.01, tooltip="Area top edge."),
        _strength("Weight of the entry where it applies."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning: Conditioning, width: float, height: float,
            x: float, y: float, strength: float) -> tuple[Any, ...]:
        area = AreaPercentage(height, width, y, x)
        return (replace_all(conditioning, area=area, strength=strength,
                            set_area_to_bounds=False),)


class ConditioningSetMask(Node):
    """Limits the conditioning to a mask; 'mask bounds' also narrows the model call to the
    mask's bounding box."""

    display_name = "Conditioning (Set Mask)"
    category = "conditioning"
    inputs = (
        _conditioning("conditioning"),
        Link("mask", MASK, tooltip="Where the conditioning applies (any resolution)."),
        _strength("Weight of the entry inside the mask."),
        Combo("set_cond_area", choices=MASK_AREAS,
              tooltip="'mask bounds' computes the entry only over the mask's bounding box."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning: Conditioning, mask: Tensor, strength: float,
            set_cond_area: str) -> tuple[Any, ...]:
        if set_cond_area not in MASK_AREAS:
            raise ValueError(f"ConditioningSetMask input 'set_cond_area': {set_cond_area!r} "
                             f"is not one of {list(MASK_AREAS)}")
        if mask.ndim < 3:
            mask = mask.unsqueeze(0)  # (1, H, W)
        return (replace_all(conditioning, mask=mask, mask_strength=strength,
                            set_area_to_bounds=set_cond_area != "default"),)


class ConditioningZeroOut(Node):
    """Replaces the text encoding (and pooled output) with zeros of the same shape."""

    category = "advanced/conditioning"
    inputs = (_conditioning("conditioning"),)
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning: Conditioning) -> tuple[Any, ...]:
        out = tuple(
            dataclasses.replace(
                e, cross_attn=torch.zeros_like(e.cross_attn),
                pooled_output=None if e.pooled_output is None
                else torch.zeros_like(e.pooled_output))
            for e in conditioning
        )
        return (out,)


class ConditioningSetTimestepRange(Node):
    """Makes the conditioning active only between start and end (fractions of the schedule)."""

    category = "advanced/conditioning"
    inputs = (
        _conditioning("conditioning"),
        Float("start", default=0.0, min=0.0, max=1.0, step=0.001,
              tooltip="Fraction of the schedule where the entry starts."),
        Float("end", default=1.0, min=0.0, max=1.0, step=0.001,
              tooltip="Fraction of the schedule where the entry stops."),
    )
    outputs = (Output(CONDITIONING),)

    def run(self, ctx: RunContext, conditioning: Conditioning, start: float,
            end: float) -> tuple[Any, ...]:
        return (replace_all(conditioning, start_percent=start, end_percent=end),)


CONDITIONING_OPS = [
    ConditioningCombine, ConditioningAverage, ConditioningConcat, ConditioningSetArea,
    ConditioningSetAreaPercentage, ConditioningSetMask, ConditioningZeroOut,
    ConditioningSetTimestepRange,
]
